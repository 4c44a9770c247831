"""Issue 14 item 18: the completeness report gives skip reasons in words and links each failure to
its message and its contact."""

from datetime import timedelta

import pytest
from django.urls import reverse

from archive.models import Outcome, SkipReason
from mktops.models import Contact
from tests.archive.conftest import deliver_pending, email_sent_event, message_for, run_all, sms_sent_event
from tests.archive.test_destinations import use_tenant_bucket

pytestmark = pytest.mark.django_db


def report_url(cfg, day):
    return (reverse("admin:archive_archivesettings_completeness", args=[cfg.pk])
            + f"?from={day:%Y-%m-%d}&to={day:%Y-%m-%d}")


def test_skip_reasons_in_words_and_failures_linked(archive_on, ingest, s3, clock, as_support_a):
    archive_on.archive_sms = False
    archive_on.save()
    cfg = use_tenant_bucket(archive_on, "bucket-that-does-not-exist-18")
    ingest(email_sent_event(1), sms_sent_event(2))
    run_all()
    for hours in (1, 4):  # the two S3 retries fail too: the message is held
        clock.advance(message_for("uuid-1").first_attempt_at + timedelta(hours=hours) - clock.now())
        deliver_pending_due()
    failed = message_for("uuid-1")
    assert failed.outcome == Outcome.HELD
    page = as_support_a.get(report_url(cfg, failed.event_time.date())).content.decode()
    assert f"{SkipReason.CHANNEL_OFF.label}: 1" in page
    assert "channel_off" not in page
    failures = page.split('id="completeness-failures"')[1]
    contact = Contact.objects.get(uid="user-1")
    assert reverse("admin:archive_archivedmessage_message", args=[failed.pk]) in failures
    assert reverse("admin:mktops_contact_change", args=[contact.pk]) in failures
    assert "kept internally until" in failures
    # the skipped SMS is not a failure
    assert reverse("admin:archive_archivedmessage_message", args=[message_for("uuid-2").pk]) not in failures


def deliver_pending_due():
    from archive import tasks
    from archive.models import ArchivedMessage
    from mktops.jobs import due_ids

    tasks.deliver(due_ids(ArchivedMessage, limit=100))


def test_a_retrying_message_is_listed_while_it_waits(archive_on, ingest, s3, as_operator_a):
    cfg = use_tenant_bucket(archive_on, "bucket-that-does-not-exist-18b")
    ingest(email_sent_event(1))
    deliver_pending()
    row = message_for("uuid-1")
    page = as_operator_a.get(report_url(cfg, row.event_time.date())).content.decode()
    assert "retrying at" in page.split('id="completeness-failures"')[1]


def test_another_tenant_gets_404(archive_on, ingest, s3, as_operator_b):
    cfg = use_tenant_bucket(archive_on, "bucket-that-does-not-exist-18c")
    ingest(email_sent_event(1))
    day = message_for("uuid-1").event_time.date()
    assert as_operator_b.get(report_url(cfg, day)).status_code == 404
