"""From an ingested sent event to a stored file: rows, skip reasons, formats, SHA-256."""

import email
import email.policy
import hashlib
import json

import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from archive import tasks
from archive.models import ArchivedMessage, Destination, Outcome, SkipReason
from archive.services import intake
from archive.services.render import CAMPAIGN_HEADER, STRIPPED_HEADER
from mktops.models import Event
from mktops.storage import archive_storage
from tests.archive.conftest import (
    confirm_destinations,
    email_sent_event,
    make_event,
    message_for,
    push_sent_event,
    run_all,
    settings_of,
    sms_sent_event,
)

pytestmark = pytest.mark.django_db


def test_ingest_creates_one_queued_row_per_sent_event_and_stores_it(archive_on, ingest, s3):
    ingest(email_sent_event(1), make_event(2), sms_sent_event(3), push_sent_event(4, "ios"))
    rows = ArchivedMessage.objects.order_by("event_uuid")
    assert [(r.event_uuid, r.outcome) for r in rows] == [
        ("uuid-1", Outcome.QUEUED), ("uuid-3", Outcome.QUEUED), ("uuid-4", Outcome.QUEUED)]
    run_all()
    keys = sorted(s3.list_keys())
    assert len(keys) == 3
    for row in ArchivedMessage.objects.all():
        assert row.outcome == Outcome.STORED and row.destination == Destination.PLATFORM
        assert row.key in keys
        assert row.sha256 == hashlib.sha256(s3.read(row.key)).hexdigest()
    ios = message_for("uuid-4")
    assert ios.key == f"tenant_a/{ios.event_time:%Y-%m-%d}/push/{ios.message_id}_push-cmp_" \
                      f"{ios.event_time:%H%M%S}_push_ios.json"
    assert settings_of(archive_on).locked_at is not None


def test_the_receiver_only_enqueues_and_the_task_makes_and_writes_the_rows(archive_on, api, s3,
                                                                           django_capture_on_commit_callbacks):
    broker = get_broker()
    broker.purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        ok = api("/events", {"events": [email_sent_event(1), make_event(2), sms_sent_event(3)]})
    assert ok.status_code == 200
    assert not ArchivedMessage.objects.exists()  # nothing but the enqueue during ingestion
    task = _dequeue(broker, "archive.tasks.deliver_events")
    sent = list(Event.objects.filter(event_uuid__in=["uuid-1", "uuid-3"]).order_by("seq").values_list("id", flat=True))
    assert task["args"] == (archive_on.pk, sent)
    confirm_destinations()
    assert tasks.deliver_events(*task["args"]) == 2
    assert sorted(ArchivedMessage.objects.values_list("outcome", flat=True)) == [Outcome.STORED, Outcome.STORED]
    assert tasks.deliver_events(*task["args"]) == 0  # a rerun makes and writes nothing twice
    assert ArchivedMessage.objects.count() == 2 and len(s3.list_keys()) == 2


def _dequeue(broker, func: str) -> dict:
    """The first task for `func` in the configured broker (the database or Redis)."""
    for _ in range(100):
        for _, package in broker.dequeue() or []:
            task = SignedPackage.loads(package)
            if task["func"] == func:
                return task
    raise AssertionError(f"no {func} task was enqueued")


def test_eml_is_rfc5322_multipart_alternative_with_campaign_header(archive_on, ingest, s3):
    event = email_sent_event(7)
    event["message"]["attachments"] = [{"name": "invoice.pdf", "size": 1234}]
    event["message"]["headers"] = {"X-Mailer": "acme", "Subject": "spoof"}
    ingest(event)
    run_all()
    row = message_for("uuid-7")
    assert row.key.startswith("tenant_a/") and row.key.endswith("_cmp-1_" + row.event_time.strftime("%H%M%S")
                                                                  + "_email.eml")
    raw = s3.read(row.key)
    assert b"\r\n" in raw
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Subject"] == "Hello 7"
    assert msg["From"] == "Acme <news@acme.example>"
    assert msg["To"] == "user7@example.com"
    assert msg[CAMPAIGN_HEADER] == "cmp-1"
    assert msg["Message-ID"] == f"<{row.message_id}@archive.mktops>"
    assert msg["Date"]
    assert msg["X-Mailer"] == "acme"
    assert msg.get_content_type() == "multipart/alternative"
    assert msg.get_body(("plain",)).get_content().strip() == "Plain body 7"
    assert msg.get_body(("html",)).get_content().strip() == "<p>HTML body 7</p>"
    assert "invoice.pdf (1234 bytes)" in msg[STRIPPED_HEADER]
    assert row.stripped_attachments == ["invoice.pdf (1234 bytes)"]


def test_sms_and_push_json(archive_on, ingest, s3):
    ingest(sms_sent_event(1), push_sent_event(2, "web"))
    run_all()
    sms = json.loads(s3.read(message_for("uuid-1").key))
    assert sms["recipient"] == "+15550000101" and sms["sender"] == "ACME"
    assert sms["content"] == {"body": "Your code is 1"} and sms["campaign_id"] == "sms-cmp"
    assert sms["channel"] == "sms" and sms["sent_at"].endswith("Z")
    push = json.loads(s3.read(message_for("uuid-2").key))
    assert push["platform"] == "web" and push["recipient"] == "token-2"
    assert push["content"]["title"] == "Sale" and push["content"]["data"] == {"deep_link": "acme://sale"}
    assert message_for("uuid-2").key.endswith("_push_web.json")


@pytest.mark.parametrize(("change", "reason"), [
    ({"archive_enabled": False}, SkipReason.ARCHIVE_OFF),
    ({"archive_email": False}, SkipReason.CHANNEL_OFF),
    ({"pii_tokenised_sending": True}, SkipReason.PII_TOKENISED),
])
def test_skipped_with_reason(archive_on, ingest, change, reason):
    for name, value in change.items():
        setattr(archive_on, name, value)
    archive_on.save()
    ingest(email_sent_event(1), sms_sent_event(2))
    row = message_for("uuid-1")
    assert (row.outcome, row.skip_reason, row.status) == (Outcome.SKIPPED, reason, "done")
    if reason == SkipReason.CHANNEL_OFF:
        assert message_for("uuid-2").outcome == Outcome.QUEUED


def test_over_250_kb_is_skipped(archive_on, ingest):
    ingest(email_sent_event(1, message={"from": "a@b.example", "to": "c@d.example", "subject": "big",
                                        "html": "x" * (250 * 1024 + 10)}))
    row = message_for("uuid-1")
    assert (row.outcome, row.skip_reason) == (Outcome.SKIPPED, SkipReason.TOO_LARGE)


def test_sweeper_creates_rows_a_failed_receiver_missed(archive_on, api, s3):
    # the API without on-commit callbacks: the receiver never ran
    api("/events", {"events": [email_sent_event(1), email_sent_event(2)]})
    assert not ArchivedMessage.objects.exists()
    result = tasks.sweep()
    assert result["created"] == 2 and result["enqueued"] == 2
    assert tasks.sweep()["created"] == 0  # idempotent
    confirm_destinations()
    tasks.deliver(list(ArchivedMessage.objects.values_list("pk", flat=True)))
    assert len(s3.list_keys()) == 2


def test_receiver_and_sweeper_racing_make_one_row(archive_on, api):
    api("/events", {"events": [email_sent_event(1)]})
    ids = list(Event.objects.values_list("pk", flat=True))
    intake.archived_messages_create(tenant=archive_on, event_ids=ids)
    intake.archived_messages_create(tenant=archive_on, event_ids=ids)
    assert ArchivedMessage.objects.count() == 1


def test_local_folder_stands_in_for_the_platform_bucket(archive_on, ingest, settings, tmp_path):
    settings.MKTOPS_ARCHIVE_BUCKET = ""
    settings.MKTOPS_LOCAL_ARCHIVE_DIR = tmp_path
    settings.STORAGES = {**settings.STORAGES, "archive": archive_storage(bucket="", local_dir=tmp_path)}
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    stored = (tmp_path / row.key).read_bytes()
    assert b"Hello 1" not in stored  # encrypted at rest
    from mktops.crypto import decrypt_bytes

    assert hashlib.sha256(decrypt_bytes(stored)).hexdigest() == row.sha256
