"""Issue 12 item 9: an export worker whose lease ran out cannot record its run over the worker
that took the run over (the same Job guard as every feature), nor extend the lease again."""

from datetime import timedelta

import pytest

from exports.models import ExportConnection, ExportRun, ExportUsage
from exports.services import runs, schedule
from mktops.jobs import JobStatus, claim

pytestmark = pytest.mark.django_db


def _two_workers(clock):
    (run_id,) = schedule.exports_sweep()
    stale = claim(ExportRun, run_id, lease=runs.RUN_LEASE)
    stale.connection, stale.tenant = stale.connection, stale.tenant
    upload = runs.run_upload(run=stale)  # worker 1 uploaded, then stalled past its lease
    clock.advance(runs.RUN_LEASE + timedelta(seconds=1))
    fresh = claim(ExportRun, run_id, lease=runs.RUN_LEASE)
    assert fresh is not None and fresh.attempts == 2
    return stale, fresh, upload


def test_a_stale_export_worker_loses_to_the_worker_that_took_over(make_connection, ingest, clock, s3, bucket):
    connection = make_connection()
    ingest(0, 3)
    clock.advance(timedelta(minutes=15))
    stale, fresh, upload = _two_workers(clock)
    assert runs.run_record_failure(run=fresh, error="worker 2 failed", duration=1.0)

    assert runs.run_record_success(run=stale, upload=upload, duration=1.0) is False
    assert runs.run_record_failure(run=stale, error="worker 1 failed", duration=1.0) is False
    assert stale.extend_lease(clock.now() + runs.RUN_LEASE) is False
    fresh.refresh_from_db()
    assert (fresh.status, fresh.attempts, fresh.last_error) == (JobStatus.RETRYING, 2, "worker 2 failed")
    # the stale success moved neither the watermark nor the usage
    assert ExportConnection.objects.get(pk=connection.pk).exported_seq == 0
    assert not ExportUsage.objects.exists()


def test_the_heartbeat_stops_a_stale_upload(make_connection, ingest, clock, s3, bucket):
    make_connection()
    ingest(0, 3)
    clock.advance(timedelta(minutes=15))
    stale, fresh, _ = _two_workers(clock)
    beat = runs._heartbeat(stale)
    clock.advance(runs.HEARTBEAT)
    with pytest.raises(runs.LeaseLost):
        beat(None)
    assert fresh.succeed()
    fresh.refresh_from_db()
    assert fresh.status == JobStatus.DONE
