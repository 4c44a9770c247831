"""Issue 13 item 9: Run now on the connection page exports what is pending at once, into the normal path,
with an audit row; the schedule goes on. Per persona: tenant B 404, support 403, a GET changes nothing.
Against moto."""

from datetime import UTC, datetime, timedelta

import pytest

from exports import tasks
from exports.models import ExportRun, Frequency, RunKind
from exports.services import connections, schedule
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.exports.conftest import data_keys, read_records

BASE = "/admin/exports/exportconnection/"


@pytest.fixture
def connection(make_connection, clock):
    # just after a 15-minute boundary: the next slot is a quarter of an hour away whatever the test's pace
    now = mk_clock.now()
    mk_clock.advance(schedule.next_slot(Frequency.EVERY_15_MINUTES, now) - now + timedelta(seconds=1))
    return make_connection(frequency="daily")


def run_enqueued() -> ExportRun:
    (run,) = ExportRun.objects.all()
    tasks.export_run(run.pk)  # what the worker does with the task enqueued at commit
    run.refresh_from_db()
    return run


def test_run_now_writes_the_pending_events_at_once_into_the_normal_path(connection, ingest, as_operator_a, s3,
                                                                        bucket):
    ingest(0, 3)
    slot = connection.next_run_at  # the first slot, up to 15 minutes away
    page = as_operator_a.get(f"{BASE}{connection.pk}/change/")
    assert b'id="run-now"' in page.content
    response = as_operator_a.post(f"{BASE}{connection.pk}/run-now/", follow=True)
    assert "Run now: the events pending now go to warehouse/export_day=" in response.content.decode()
    run = run_enqueued()
    assert run.status == JobStatus.DONE and run.kind == RunKind.SCHEDULED
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    assert made < slot  # now, not at the next slot
    assert data_keys(s3, bucket) == [run.object_key]
    assert run.object_key.startswith(f"warehouse/export_day={made:%d-%m-%Y}/event_exports_")
    assert [r["event"]["event_uuid"] for r in read_records(s3, bucket, run.object_key)] == [
        "uuid-0", "uuid-1", "uuid-2"]
    connection.refresh_from_db()
    # the schedule goes on: the first file has arrived, so the next is at the daily slot
    assert connection.exported_seq == 3
    assert connection.next_run_at == schedule.next_slot(Frequency.DAILY, mk_clock.now())
    row = AuditLog.objects.get(action="s3_export.run_now")
    assert row.detail == {"run": run.pk} and row.tenant_id == connection.tenant_id


def test_run_now_with_nothing_pending_says_so(connection, as_operator_a):
    response = as_operator_a.post(f"{BASE}{connection.pk}/run-now/", follow=True)
    assert connections.MSG_RUN_NOW_NOTHING in response.content.decode()
    assert not ExportRun.objects.exists()


def test_run_now_while_paused_is_refused_with_the_reason(connection, ingest, as_operator_a, operator_a):
    connections.connection_pause(connection=connection, by=operator_a)
    ingest(0, 1)
    response = as_operator_a.post(f"{BASE}{connection.pk}/run-now/", follow=True)
    assert connections.ERR_RUN_NOW_PAUSED in response.content.decode()
    assert not ExportRun.objects.exists()


def test_run_now_per_persona(connection, ingest, as_operator_b, as_support_a, as_operator_a):
    ingest(0, 1)
    url = f"{BASE}{connection.pk}/run-now/"
    assert as_operator_b.post(url).status_code == 404
    assert as_support_a.post(url).status_code == 403
    assert b'id="run-now"' not in as_support_a.get(f"{BASE}{connection.pk}/change/").content
    assert as_operator_a.get(url).status_code == 405
    assert not ExportRun.objects.exists() and not AuditLog.objects.filter(action="s3_export.run_now").exists()
