"""The demo shows every feature: `seed_demo` runs each app's registered demo seeder, idempotently."""

from io import StringIO

from django.core.management import call_command

from archive.models import ArchivedMessage, ArchiveSettings
from archive.services.config import WAITING_REASON
from archive.tasks import deliver_events
from channels.models import Channel, ChannelState
from mktops.models import Event
from mktops.storage import archive_storage
from quarantine.models import QuarantineEntry, Status


def _seed():
    out = StringIO()
    call_command("seed_demo", "--contacts", "8", "--events", "150", stdout=out)
    return out.getvalue()


def _state():
    return (sorted(QuarantineEntry.objects.values_list("channel", "address", "status", "error_count")),
            sorted(Channel.objects.values_list("channel_type", "name", "state")),
            ArchivedMessage.objects.count())


def test_seed_demo_configures_every_feature_and_runs_twice(db, tmp_path, settings,
                                                           django_capture_on_commit_callbacks):
    settings.STORAGES = {**settings.STORAGES, "archive": archive_storage(bucket="", local_dir=tmp_path)}
    with django_capture_on_commit_callbacks(execute=True):  # ingestion publishes its events after commit
        out = _seed()
    cfg = ArchiveSettings.objects.get(tenant__slug="demo")
    assert cfg.locked_at is not None, out  # confirmed: the demo's sent messages are archived, not waiting
    tenant = cfg.tenant
    sent = Event.objects.filter(tenant=tenant, message__isnull=False).values_list("pk", flat=True)
    assert deliver_events(tenant.pk, list(sent)) > 0  # what the demo's cluster runs: stored at once
    assert not ArchivedMessage.objects.filter(tenant=tenant, failure_reason=WAITING_REASON).exists()
    statuses = dict(QuarantineEntry.objects.values_list("address", "status"))
    assert statuses["ghost.user@example.com"] == Status.QUARANTINED
    assert statuses["complainer@example.org"] == Status.DENYLISTED
    assert statuses["+15550000003"] == Status.QUARANTINED
    assert statuses["full.mailbox@example.net"] == Status.VALID  # 3 soft errors, under the threshold of 5
    assert set(Channel.objects.values_list("state", flat=True)) == {ChannelState.UNBOUND}
    before = _state()
    with django_capture_on_commit_callbacks(execute=True):
        _seed()
    assert _state() == before
