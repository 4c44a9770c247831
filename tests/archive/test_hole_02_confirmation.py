"""Issue 14 item 2: the destination locks only at the operator's explicit confirmation. Until
then messages wait (queued, 'waiting for a destination', kept as long as an internal copy), the
CSM's tenant page says so, and a save that cannot take effect is refused with the reason."""

from datetime import timedelta

import pytest
from django.urls import reverse

from archive.models import ArchivedMessage, ArchiveSettings, Destination, InternalCopy, Outcome
from archive.services import config, repair
from archive.services.delivery import INTERNAL_STORE_DAYS
from mktops.jobs import JobStatus
from mktops.models import AuditLog, Event
from tests.archive.conftest import deliver_pending, email_sent_event, message_for, settings_of
from tests.archive.test_admin_settings import change_url, form_data, tenant_s3

pytestmark = pytest.mark.django_db


def confirm_url(cfg):
    return reverse("admin:archive_archivesettings_confirm", args=[cfg.pk])


@pytest.fixture
def waiting(archive_on, ingest, s3):
    """The CSM switched the archive on; a message was sent before any operator chose."""
    ingest(email_sent_event(1), confirm=False)
    deliver_pending(confirm=False)
    return message_for("uuid-1")


def test_messages_wait_for_a_destination_and_nothing_locks(waiting, archive_on, s3, clock):
    row = ArchivedMessage.objects.get(pk=waiting.pk)
    assert (row.outcome, row.status, row.failure_reason) == (Outcome.QUEUED, JobStatus.PENDING,
                                                              config.WAITING_REASON)
    assert row.next_attempt_at is None and s3.list_keys() == []
    assert settings_of(archive_on).locked_at is None
    # kept as an internal copy would be: sealed content, 60 days
    assert InternalCopy.objects.filter(message=row).exists()
    assert row.held_until.date() == (clock.now() + timedelta(days=INTERNAL_STORE_DAYS)).date()


def test_waiting_is_said_on_the_message_list_the_settings_page_and_the_csm_tenant_page(
        waiting, archive_on, as_operator_a, as_csm):
    listing = as_operator_a.get(reverse("admin:archive_archivedmessage_changelist")).content.decode()
    assert "waiting for a destination" in listing
    settings_page = as_operator_a.get(change_url(settings_of(archive_on))).content.decode()
    assert "Not confirmed" in settings_page and "1 message(s) waiting for a destination" in settings_page
    tenant_page = as_csm.get(reverse("admin:mktops_tenant_change", args=[archive_on.pk])).content.decode()
    assert "1 message(s) are waiting for a destination" in tenant_page


def test_the_operators_choice_takes_effect_and_confirmation_locks_it(waiting, archive_on, s3, as_operator_a,
                                                                     django_capture_on_commit_callbacks):
    cfg = settings_of(archive_on)
    bucket = s3.create_bucket()
    response = as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3(bucket)))
    assert response.status_code == 302
    cfg.refresh_from_db()
    assert cfg.destination == Destination.S3 and cfg.locked_at is None
    # the confirmation step says it is final and shows what is locked
    page = as_operator_a.get(confirm_url(cfg)).content.decode()
    assert "This is final." in page and bucket in page and 'name="acknowledge"' in page
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        done = as_operator_a.post(confirm_url(cfg), {"acknowledge": "final"})
    assert done.status_code == 302 and len(callbacks) == 1  # the waiting rows handed to a worker
    cfg.refresh_from_db()
    assert cfg.locked_at is not None
    audit = AuditLog.objects.get(action="archive.destination_confirm")
    assert audit.detail["destination"] == Destination.S3 and audit.detail["s3_bucket"] == bucket
    deliver_pending(confirm=False)
    row = ArchivedMessage.objects.get(pk=waiting.pk)
    assert row.outcome == Outcome.STORED and row.destination == Destination.S3
    assert s3.list_keys(bucket) == [f"archive/{row.key}"] and s3.list_keys() == []
    assert not InternalCopy.objects.filter(message=row).exists()


def test_confirmation_without_the_acknowledgement_is_refused(waiting, archive_on, as_operator_a):
    cfg = settings_of(archive_on)
    response = as_operator_a.post(confirm_url(cfg), {})
    assert response.status_code == 400
    assert config.ERR_CONFIRM_ACK in response.content.decode()
    assert ArchiveSettings.objects.get(pk=cfg.pk).locked_at is None


def test_incomplete_settings_cannot_be_confirmed(archive_on, as_operator_a):
    cfg = settings_of(archive_on)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(destination=Destination.S3)
    response = as_operator_a.post(confirm_url(cfg), {"acknowledge": "final"})
    assert response.status_code == 400 and "cannot be confirmed until its settings are complete" in (
        response.content.decode())
    assert ArchiveSettings.objects.get(pk=cfg.pk).locked_at is None


def test_after_the_lock_a_changed_destination_is_refused_not_reported_as_saved(archive_on, as_operator_a):
    cfg = settings_of(archive_on)
    as_operator_a.post(confirm_url(cfg), {"acknowledge": "final"})
    cfg.refresh_from_db()
    response = as_operator_a.post(change_url(cfg), form_data(cfg, **tenant_s3("acme-archive")), follow=True)
    page = response.content.decode()
    assert "changed successfully" not in page
    assert "the destination is locked since" in page
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM


def test_waiting_messages_outlive_their_event_and_are_purged_after_the_internal_store_days(
        waiting, archive_on, clock):
    Event.objects.filter(pk=waiting.event_id).delete()  # the event retention took the event
    clock.advance(timedelta(days=INTERNAL_STORE_DAYS - 1))
    repair.internal_copies_purge()
    assert ArchivedMessage.objects.get(pk=waiting.pk).outcome == Outcome.QUEUED
    clock.advance(timedelta(days=1, minutes=1))
    repair.internal_copies_purge()
    row = ArchivedMessage.objects.get(pk=waiting.pk)
    assert row.outcome == Outcome.PURGED and "no destination was confirmed" in row.last_error
    assert not InternalCopy.objects.filter(message=row).exists()


def test_a_waiting_message_whose_event_is_gone_is_written_from_its_copy_after_confirmation(
        waiting, archive_on, s3, as_operator_a):
    Event.objects.filter(pk=waiting.event_id).delete()
    as_operator_a.post(confirm_url(settings_of(archive_on)), {"acknowledge": "final"})
    deliver_pending(confirm=False)
    row = ArchivedMessage.objects.get(pk=waiting.pk)
    assert row.outcome == Outcome.STORED and s3.list_keys() == [row.key]
    assert b"HTML body 1" in s3.read(row.key)


def test_personas_on_the_confirmation_step(archive_on, tenant_b, as_support_a, as_operator_b, as_csm):
    cfg = settings_of(archive_on)
    assert as_operator_b.get(confirm_url(cfg)).status_code == 404
    assert as_operator_b.post(confirm_url(cfg), {"acknowledge": "final"}).status_code == 404
    assert as_support_a.get(confirm_url(cfg)).status_code == 403
    assert as_support_a.post(confirm_url(cfg), {"acknowledge": "final"}).status_code == 403
    # the choice is the tenant's: a CSM sees the step but cannot confirm for the tenant
    assert "Only an operator" in as_csm.get(confirm_url(cfg)).content.decode()
    assert as_csm.post(confirm_url(cfg), {"acknowledge": "final"}).status_code == 403
    assert ArchiveSettings.objects.get(pk=cfg.pk).locked_at is None
