"""Issue 12 item 9: a worker whose lease ran out cannot overwrite the outcome of the worker
that reclaimed its rows (the archive's batch recording is guarded like every Job outcome)."""

from datetime import timedelta

import pytest

from archive.models import ArchivedMessage, InternalCopy, Outcome
from archive.services import delivery
from mktops import jobs
from mktops.jobs import JobStatus
from tests.archive.conftest import email_sent_event, message_for, settings_of

pytestmark = pytest.mark.django_db


def _slow_worker_prepares(row, tenant):
    """Worker 1 claims the row and writes the file, then stalls past its lease."""
    claimed = jobs.claim(ArchivedMessage, row.pk)
    prepared = delivery._prepare(claimed, claimed.event, None, settings_of(tenant))
    return delivery._write(prepared)


def test_a_stale_worker_cannot_overwrite_the_outcome_of_the_worker_that_took_over(archive_on, ingest, s3, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    stale = _slow_worker_prepares(row, archive_on)
    clock.advance(ArchivedMessage.LEASE + timedelta(seconds=1))
    # worker 2 reclaims the row and records a failure to retry
    second = jobs.claim(ArchivedMessage, row.pk)
    assert second.attempts == 2
    assert second.retry_at(clock.now() + timedelta(hours=1), "worker 2 could not write")

    # worker 1 wakes up: neither its success (the batch recording) nor a failure wins
    delivery._record_successes([stale], {archive_on.pk: settings_of(archive_on)}, set())
    assert stale.row.status == JobStatus.RUNNING  # its copy says it did not record
    assert stale.row.fail("worker 1 gives up") is False
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (JobStatus.RETRYING, 2, "worker 2 could not write")
    assert row.outcome == Outcome.QUEUED and settings_of(archive_on).locked_at is None


def test_a_stale_failure_keeps_no_internal_copy_of_a_row_the_other_worker_stored(archive_on, ingest, s3, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    stale = _slow_worker_prepares(row, archive_on)
    clock.advance(ArchivedMessage.LEASE + timedelta(seconds=1))
    (done,) = delivery.archived_messages_deliver(pks=[row.pk])  # worker 2 stores it
    assert done.status == JobStatus.DONE

    stale.row.attempts = 99  # as if its retries were used up: it would keep an internal copy
    stale.error = delivery.DeliveryError("other", "late failure")
    assert delivery._record_failure(stale, settings_of(archive_on)) is False
    row.refresh_from_db()
    assert (row.status, row.outcome, row.last_error) == (JobStatus.DONE, Outcome.STORED, "")
    assert not InternalCopy.objects.exists()


def test_claim_sets_the_first_attempt_once(archive_on, ingest, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    first = jobs.claim(ArchivedMessage, row.pk)
    clock.advance(ArchivedMessage.LEASE + timedelta(seconds=1))
    second = jobs.claim(ArchivedMessage, row.pk)
    assert second.first_attempt_at == first.first_attempt_at < second.last_attempt_at
