"""Fault tests against real servers: S3 down (retries at +1 h and +4 h on the clock, then the
internal store, then re-delivery), the worker killed mid-write, the 60-day purge."""

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from archive import tasks
from archive.models import ArchivedMessage, InternalCopy, Outcome
from archive.services import delivery, destinations, repair
from mktops import jobs
from mktops.jobs import JobStatus
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of
from tests.fixtures.servers import platform_bucket_on

pytestmark = pytest.mark.django_db


@pytest.fixture
def own_s3(s3_server_factory, settings):
    """A dedicated S3 server the test may stop, with the platform bucket on it."""
    server = s3_server_factory()
    env = platform_bucket_on(server, settings)
    env.server = server
    return env


def attempt(pk):
    return delivery.archived_messages_deliver(pks=[pk])


def test_s3_outage_retries_at_1h_and_4h_then_internal_store_then_redelivery(
        archive_on, ingest, own_s3, clock, as_csm, as_operator_a):
    own_s3.server.stop()
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    attempt(row.pk)
    row.refresh_from_db()
    first = row.first_attempt_at
    assert (row.status, row.attempts, row.failure_reason) == (JobStatus.RETRYING, 1, "unreachable")
    assert row.next_attempt_at == first + timedelta(hours=1)
    assert destinations.REASONS["unreachable"] in row.last_error
    assert jobs.due_ids(ArchivedMessage) == []

    clock.advance(timedelta(minutes=59))
    assert jobs.due_ids(ArchivedMessage) == []
    clock.advance(timedelta(minutes=1))
    assert tasks.sweep()["enqueued"] == 1
    attempt(row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (JobStatus.RETRYING, 2)
    assert row.next_attempt_at == first + timedelta(hours=4)

    clock.advance(timedelta(hours=3))
    assert jobs.due_ids(ArchivedMessage) == [row.pk]
    attempt(row.pk)
    row.refresh_from_db()
    assert (row.status, row.outcome, row.attempts) == (JobStatus.FAILED, Outcome.HELD, 3)
    assert row.held_until.date() == (first + timedelta(hours=4, days=60)).date()
    assert InternalCopy.objects.filter(message=row).exists()
    assert jobs.due_ids(ArchivedMessage) == []

    # the settings page shows the failure in words, and the message says until when it is kept
    page = as_operator_a.get(reverse("admin:archive_archivesettings_change",
                                     args=[settings_of(archive_on).pk])).content.decode()
    assert f"not delivered, kept internally until {row.held_until:%Y-%m-%d}" in page
    assert "Host unreachable" in page

    # support can still read it (from the internal store); the CSM re-delivers once S3 is back
    assert as_operator_a.get(reverse("admin:archive_archivedmessage_download", args=[row.pk])).status_code == 200
    own_s3.server.start()
    as_csm.post(reverse("admin:archive_archivesettings_redeliver_all", args=[settings_of(archive_on).pk]))
    run_all()
    row.refresh_from_db()
    assert (row.status, row.outcome, row.held_until) == (JobStatus.DONE, Outcome.STORED, None)
    assert own_s3.list_keys() == [row.key]
    assert not InternalCopy.objects.filter(message=row).exists()


def test_internal_copies_are_purged_after_60_days(archive_on, ingest, own_s3, clock):
    own_s3.server.stop()
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    for hours in (0, 1, 3):
        clock.advance(timedelta(hours=hours))
        attempt(row.pk)
    row.refresh_from_db()
    assert row.outcome == Outcome.HELD
    clock.advance(timedelta(days=59))
    assert tasks.sweep()["purged"] == 0
    clock.advance(timedelta(days=1, minutes=1))
    assert tasks.sweep()["purged"] == 1
    row.refresh_from_db()
    assert row.outcome == Outcome.PURGED and not InternalCopy.objects.exists()
    with pytest.raises(ValidationError, match="Only messages that were not delivered"):
        repair.archived_message_redeliver(message=row)


def test_worker_killed_mid_write_lease_expiry_reruns_without_duplicates(archive_on, ingest, s3, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    # a worker claims the row, writes the file, and dies before recording the outcome
    claimed = jobs.claim(ArchivedMessage, row.pk)
    assert claimed is not None and claimed.status == JobStatus.RUNNING
    cfg = settings_of(archive_on)
    prepared = delivery._prepare(claimed, claimed.event, None, cfg)
    delivery._write(prepared)
    assert len(s3.list_keys()) == 1
    # nobody else may take it while the lease runs
    assert attempt(row.pk) == []
    assert tasks.sweep()["enqueued"] == 0
    clock.advance(ArchivedMessage.LEASE + timedelta(seconds=1))
    assert tasks.sweep()["enqueued"] == 1
    tasks.deliver([row.pk])
    row.refresh_from_db()
    assert (row.status, row.outcome, row.attempts) == (JobStatus.DONE, Outcome.STORED, 2)
    assert s3.list_keys() == [row.key]
    assert ArchivedMessage.objects.count() == 1
    import hashlib

    assert hashlib.sha256(s3.read(row.key)).hexdigest() == row.sha256


def test_missing_tenant_bucket_is_diagnosed(archive_on, ingest, s3):
    cfg = settings_of(archive_on)
    cfg.destination, cfg.s3_bucket, cfg.s3_region = "s3", "gone-bucket", "us-east-1"
    cfg.s3_bucket_arn = "arn:aws:s3:::gone-bucket"
    cfg.save()
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.failure_reason == "no_such_bucket" and row.last_error.startswith("Bucket missing")
    assert row.next_attempt_at == row.first_attempt_at + timedelta(hours=1)
