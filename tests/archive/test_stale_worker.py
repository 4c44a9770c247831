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
    assert row.outcome == Outcome.QUEUED and row.stored_at is None


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


# --- item 10: a killed worker's rows are not kept for the whole lease ---------------------------------
def test_a_row_of_a_worker_known_gone_is_reclaimed_long_before_its_lease_ends(archive_on, ingest, clock):
    from archive import tasks

    ingest(email_sent_event(1), email_sent_event(2))
    dead, alive = message_for("uuid-1"), message_for("uuid-2")
    for row, owner in ((dead, "worker-host:101"), (alive, "worker-host:102")):
        jobs.claim(ArchivedMessage, row.pk)
        ArchivedMessage.objects.filter(pk=row.pk).update(lease_owner=owner)
        jobs.heartbeat_beat(owner=owner)
    assert tasks.sweep()["enqueued"] == 0
    # worker 101 is killed: its heartbeat stops; worker 102 keeps beating
    clock.advance(jobs.gone_after() + timedelta(seconds=1))
    jobs.heartbeat_beat(owner="worker-host:102")
    assert clock.now() < ArchivedMessage.objects.get(pk=dead.pk).lease_until
    assert jobs.due_ids(ArchivedMessage) == [dead.pk]
    (retaken,) = delivery.archived_messages_deliver(pks=[dead.pk, alive.pk])
    assert (retaken.pk, retaken.attempts, retaken.lease_owner) == (dead.pk, 2, "")


def test_a_row_of_an_owner_with_no_heartbeat_waits_for_its_lease(archive_on, ingest, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    claimed = jobs.claim(ArchivedMessage, row.pk)  # a process that never beats (a shell, a web request)
    assert claimed.lease_owner == jobs.worker_name()
    clock.advance(jobs.gone_after() * 10)
    assert jobs.due_ids(ArchivedMessage) == []


def test_the_lease_of_a_batch_follows_its_size(archive_on, ingest, clock):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    (claimed,) = jobs.claim_many(ArchivedMessage, [row.pk], lease=delivery.lease_for(1))
    assert claimed.lease_until - clock.now() <= timedelta(minutes=1)
    assert delivery.lease_for(10_000) == ArchivedMessage.LEASE
