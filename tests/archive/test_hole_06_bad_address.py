"""Issue 14 item 6: a bad address no longer loses the message. Header values with CR/LF are
rejected at ingestion with index, field and rule; a message that cannot be rendered (one accepted
before the rule) is kept raw in the internal store with a reason in words, and never purged."""

from datetime import timedelta

import orjson
import pytest
from django.urls import reverse

from archive.models import ArchivedMessage, InternalCopy, Outcome
from archive.services import repair
from mktops.crypto import decrypt_bytes
from mktops.ingest import RULE_HEADER_LINE
from mktops.jobs import JobStatus
from mktops.models import SentMessage
from tests.archive.conftest import email_sent_event, message_for, run_all

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("field", "value", "where"), [
    ("to", ["ok@example.com", "bad@example.com\r\nBcc: spy@example.com"], "message.to"),
    ("to", "bad@example.com\nBcc: spy@example.com", "message.to"),
    ("cc", ["c@example.com\r\n"], "message.cc"),
    ("from", "Acme <news@acme.example>\r\nX-Evil: 1", "message.from"),
    ("subject", "Hello\r\nBcc: spy@example.com", "message.subject"),
    ("reply_to", "r@example.com\n", "message.reply_to"),
    ("headers", {"X-Tag": "a\r\nb"}, "message.headers"),
])
def test_header_values_with_line_breaks_are_rejected_with_index_field_and_rule(archive_on, api, field, value,
                                                                                where):
    bad = email_sent_event(2)
    bad["message"][field] = value
    body = api("/events", {"events": [email_sent_event(1), bad]}).json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"], r["rule"]) for r in body["rejected"]] == [(1, where, RULE_HEADER_LINE)]
    assert SentMessage.objects.count() == 1


@pytest.fixture
def unrenderable(archive_on, ingest, s3):
    """A message accepted before the rule existed: its To has a line break."""
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    content = SentMessage.objects.get(event_id=row.event_id).content
    content["to"] = ["user1@example.com", "x@example.com\r\nBcc: spy@example.com"]
    SentMessage.objects.filter(event_id=row.event_id).update(content=content)
    run_all()
    return ArchivedMessage.objects.get(pk=row.pk)


def test_a_message_that_cannot_be_rendered_is_kept_raw_with_a_reason_not_retried(unrenderable, s3):
    row = unrenderable
    assert (row.outcome, row.status, row.failure_reason) == (Outcome.HELD, JobStatus.FAILED, "render_failed")
    assert row.attempts == 1 and row.held_until is None
    assert "a header value contains a line break" in row.last_error
    assert "Destination not configured" not in row.last_error
    kept = orjson.loads(decrypt_bytes(bytes(InternalCopy.objects.get(message=row).sealed)))
    assert kept["to"][1] == "x@example.com\r\nBcc: spy@example.com"  # as received
    assert s3.list_keys() == []


def test_a_raw_copy_is_never_purged(unrenderable, clock):
    clock.advance(timedelta(days=400))
    repair.internal_copies_purge()
    row = ArchivedMessage.objects.get(pk=unrenderable.pk)
    assert row.outcome == Outcome.HELD and InternalCopy.objects.filter(message=row).exists()


def test_support_reads_the_raw_copy_with_the_reason(unrenderable, as_support_a):
    page = as_support_a.get(reverse("admin:archive_archivedmessage_message", args=[unrenderable.pk]))
    text = page.content.decode()
    assert page.status_code == 200 and 'id="raw-note"' in text
    assert "could not be rendered" in text and "HTML body 1" in text
    download = as_support_a.get(reverse("admin:archive_archivedmessage_download", args=[unrenderable.pk]))
    assert download["Content-Type"] == "application/json"
    assert download["Content-Disposition"].endswith('.as-received.json"')
