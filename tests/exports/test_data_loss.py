"""Issue 13, data loss: no event lost to retention, no file replaced by another tenant's, a retry
writes all of it to one destination, a large re-export split into capped runs. Against moto."""

from datetime import UTC, datetime, time, timedelta

import pytest
from django.utils.html import escape

from exports.models import ExportConnection, ExportRun, Frequency, RunKind
from exports.services import connections, destination, runs, schedule
from exports.services import retention as export_retention
from mktops import clock as mk_clock
from mktops import retention
from mktops.ingest import events_ingest
from mktops.jobs import JobStatus, claim
from mktops.models import Event
from mktops.storage import s3 as storage
from mktops.tasks import purge_expired_events
from tests.conftest import make_event
from tests.exports.conftest import data_keys, exported_uuids, read_records

BASE = "/admin/exports/exportconnection/"
DAY = timedelta(days=1)


def epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def page_text(client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


# --- 1. the retention purge never deletes what was not exported -------------------------------------
def test_a_bucket_failing_past_retention_loses_no_event(make_connection, ingest, due, s3, bucket, entitled,
                                                         as_operator_a, as_csm):
    connection = make_connection()
    ingest(0, 5, event_time=epoch(mk_clock.now()))
    s3.boto3().delete_bucket(Bucket=bucket)  # the bucket fails: gone, say, or its policy broken
    (run,) = due()
    assert run.status == JobStatus.RETRYING

    mk_clock.advance(31 * DAY)  # retention is 30 days
    due(advance=None)
    purge_expired_events()
    assert Event.objects.filter(tenant=entitled).count() == 5

    # the CSM and the operators see why events past retention are still there
    hold = export_retention.connection_hold(connection, entitled, mk_clock.now())
    note = retention.hold_note(entitled, hold, now=mk_clock.now())
    assert "Events older than the 30-day retention are kept" in note and "“warehouse”" in note
    assert "keeps failing" in note
    assert escape(note) in page_text(as_operator_a, f"{BASE}{connection.pk}/change/")
    assert escape(note) in page_text(as_csm, f"/admin/mktops/tenant/{entitled.pk}/change/")

    s3.create_bucket(bucket)  # fixed
    (run,) = due(advance=timedelta(hours=7))
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.event_count == 5, run.last_error
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(5)]
    # exported: now the purge may have them, and the pages have nothing to say
    assert purge_expired_events() == 5
    assert retention.retention_notes(entitled, now=mk_clock.now()) == []


def test_a_late_event_for_a_weekly_connection_is_in_mondays_file(make_connection, ingest, due, s3, bucket,
                                                                 entitled):
    now = mk_clock.now()
    tuesday = datetime.combine(now.date() + timedelta(days=(1 - now.weekday()) % 7 or 7), time(1), UTC)
    mk_clock.advance(tuesday - now)
    connection = make_connection(frequency=Frequency.WEEKLY)
    ingest(0, 1, event_time=epoch(mk_clock.now()))
    (first,) = due()  # the first file comes at once; from then on the connection runs weekly
    first.refresh_from_db()
    assert first.status == JobStatus.DONE
    ingest(1, 1, event_time=epoch(mk_clock.now() - 25 * DAY))  # a late event, 25 days old

    connection.refresh_from_db()
    monday = connection.next_run_at
    assert monday.weekday() == 0 and monday - mk_clock.now() > 5 * DAY
    mk_clock.advance(monday - mk_clock.now())
    purge_expired_events()  # the hourly purge ran before Monday's file: the event is 31 days old now
    (run,) = due(advance=None)
    run.refresh_from_db()
    assert run.status == JobStatus.DONE, run.last_error
    assert [r["event"]["event_uuid"] for r in read_records(s3, bucket, run.object_key)] == ["uuid-1"]


def test_a_paused_connection_holds_its_events_up_to_retention_plus_the_cap(make_connection, ingest, operator_a,
                                                                          entitled, clock):
    connection = make_connection()
    ingest(0, 3, event_time=epoch(mk_clock.now()))
    connections.connection_pause(connection=connection, by=operator_a)

    clock.advance(timedelta(days=30 + export_retention.PAUSED_HOLD_EXTRA_DAYS) - DAY)
    purge_expired_events()
    assert Event.objects.filter(tenant=entitled).count() == 3  # the operator may still resume without loss
    (note,) = retention.retention_notes(entitled, now=mk_clock.now())
    assert "is paused" in note and "resume it before then" in note

    clock.advance(2 * DAY)
    assert purge_expired_events() == 3  # paused and forgotten: the retention applies again


def test_a_deleted_connection_holds_nothing(make_connection, ingest, operator_a, entitled, clock):
    connection = make_connection()
    ingest(0, 2, event_time=epoch(mk_clock.now()))
    clock.advance(31 * DAY)
    assert purge_expired_events() == 0
    connections.connection_delete(connection=connection, by=operator_a)
    assert purge_expired_events() == 2


# --- 2. keys never collide, writes never replace ------------------------------------------------------
@pytest.fixture
def entitled_b(tenant_b):
    tenant_b.s3_export_enabled = True
    tenant_b.save()
    return tenant_b


def test_two_tenants_with_the_same_bucket_folder_and_name_never_share_a_key(make_connection, ingest, due, s3,
                                                                            bucket, entitled_b):
    mine = make_connection(folder_path="shared")
    # made directly: the bucket-ownership rule now refuses this at save, connections from before it remain
    theirs = ExportConnection.objects.create(tenant=entitled_b, name="warehouse", bucket=bucket,
                                             folder_path="shared", next_run_at=mine.next_run_at)
    ingest(0, 2, event_time=epoch(mk_clock.now()))
    events_ingest(tenant=entitled_b, items=[make_event(i, event_uuid=f"b-{i}") for i in range(3)])

    done = due()  # one sweep, the same second for both
    assert len(done) == 2
    by_connection = {run.connection_id: ExportRun.objects.get(pk=run.pk) for run in done}
    a, b = by_connection[mine.pk], by_connection[theirs.pk]
    assert a.export_timestamp != b.export_timestamp and a.object_key != b.object_key
    # whichever may write (the bucket-ownership rule now refuses a shared bucket), a file holds its own
    # tenant's events: nothing said done over another's file
    for run, uuids in ((a, ["uuid-0", "uuid-1"]), (b, ["b-0", "b-1", "b-2"])):
        if run.status == JobStatus.DONE:
            assert [r["event"]["event_uuid"] for r in read_records(s3, bucket, run.object_key)] == uuids


def test_file_names_are_unique_per_bucket_and_prefix_across_tenants(make_connection, entitled_b, bucket, clock):
    mine = make_connection(folder_path="shared")
    theirs = ExportConnection.objects.create(tenant=entitled_b, name="warehouse", bucket=bucket,
                                             folder_path="shared")
    now = mk_clock.now()
    made = [schedule.run_create(connection=c, kind=RunKind.SCHEDULED, from_seq=1, to_seq=1, window_start=now,
                                window_end=now, now=now) for c in (mine, theirs, mine)]
    assert len({run.object_key for run in made}) == 3
    assert [run.export_timestamp for run in made] == [epoch(now), epoch(now) + 1, epoch(now) + 2]


def test_a_run_never_replaces_an_object_it_did_not_create(make_connection, ingest, clock, s3, bucket):
    make_connection()
    ingest(0, 2)
    clock.advance(timedelta(minutes=15))
    (run_id,) = schedule.exports_sweep()
    run = ExportRun.objects.get(pk=run_id)
    s3.boto3().put_object(Bucket=bucket, Key=run.object_key, Body=b"someone else's file")

    runs.run_execute(run_id=run_id)
    run.refresh_from_db()
    assert run.status == JobStatus.RETRYING
    assert run.last_error == destination.ERR_KEY_TAKEN.format(bucket=bucket, key=run.object_key)
    assert "nothing was overwritten" in run.last_error
    assert s3.read(run.object_key, bucket) == b"someone else's file"


def test_the_bucket_policy_grants_the_look_before_each_write(make_connection):
    """A run HEADs its key before writing (never replace what it did not create): on AWS that
    needs s3:GetObject on the connection's objects, or every retry after a crash is refused."""
    from exports.services.paths import connection_bucket_policy

    statements = connection_bucket_policy(make_connection())["Statement"]
    objects = next(s for s in statements if s["Resource"].endswith("*"))
    assert {"s3:PutObject", "s3:GetObject"} <= set(objects["Action"])


def test_the_store_refuses_a_second_conditional_write(s3, bucket):
    """moto 5.2.5 honours If-None-Match: *, as S3 does: the race after our check is covered too."""
    target = storage.S3Target.platform(bucket=bucket)
    storage.put_object(target, "k/one", b"first", if_none_match=True)
    with pytest.raises(storage.S3Error) as err:
        storage.put_object(target, "k/one", b"second", if_none_match=True)
    assert err.value.reason == storage.S3Error.OBJECT_EXISTS and "nothing was overwritten" in err.value.message
    with pytest.raises(storage.S3Error) as err, storage.MultipartUpload(target, "k/one", if_none_match=True) as up:
        up.write(b"second")
    assert err.value.reason == storage.S3Error.OBJECT_EXISTS
    assert s3.read("k/one", bucket) == b"first"


def test_a_retry_replaces_the_object_its_own_earlier_attempt_wrote(make_connection, ingest, clock, s3, bucket):
    make_connection()
    ingest(0, 3)
    clock.advance(timedelta(minutes=15))
    (run_id,) = schedule.exports_sweep()
    run = claim(ExportRun, run_id)
    run.connection, run.tenant = run.connection, run.tenant
    runs.run_upload(run=run)  # the file arrived, then the worker died before recording it
    ExportRun.objects.filter(pk=run_id).update(status=JobStatus.RETRYING, lease_until=None,
                                               next_attempt_at=mk_clock.now())

    runs.run_execute(run_id=run_id)
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.event_count == 3, run.last_error
    head = s3.boto3().head_object(Bucket=bucket, Key=run.object_key)
    assert head["Metadata"][destination.TOKEN_METADATA] == str(run.token)
    assert exported_uuids(s3, bucket) == ["uuid-0", "uuid-1", "uuid-2"]


# --- 3. a retry writes all of it to one destination ----------------------------------------------------
def test_a_retry_after_the_operator_fixed_the_destination_takes_all_of_it_fresh(make_connection, ingest, due, s3,
                                                                               bucket, operator_a):
    connection = make_connection(bucket="mktops-typo-bucket", folder_path="typo")
    ingest(0, 3)
    (run,) = due()
    run.refresh_from_db()
    assert run.status == JobStatus.RETRYING and "does not exist" in run.last_error
    assert (run.bucket, run.prefix) == ("mktops-typo-bucket", "typo_warehouse/")
    assert run.object_key.startswith("typo_warehouse/export_day=")

    connection.bucket, connection.folder_path = bucket, "fixed"  # the operator fixes the typos
    connections.connection_save(connection=connection, by=operator_a)
    (run,) = due(advance=timedelta(minutes=2))
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.event_count == 3, run.last_error
    # bucket, prefix and key agree: all of the destination is the fixed one
    assert (run.bucket, run.prefix) == (bucket, "fixed_warehouse/")
    assert run.object_key.startswith("fixed_warehouse/export_day=")
    assert data_keys(s3, bucket) == [run.object_key]
    assert exported_uuids(s3, bucket) == ["uuid-0", "uuid-1", "uuid-2"]


def test_a_retry_with_the_destination_unchanged_keeps_its_key(make_connection, ingest, due, s3, bucket):
    make_connection()
    ingest(0, 2)
    s3.boto3().delete_bucket(Bucket=bucket)
    (run,) = due()
    key = run.object_key
    assert run.status == JobStatus.RETRYING
    s3.create_bucket(bucket)
    (run,) = due(advance=timedelta(minutes=2))
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.object_key == key
    assert data_keys(s3, bucket) == [key]


# --- 4. a large re-export is split into runs of the cap -----------------------------------------------
def test_a_large_reexport_is_split_into_runs_of_the_scheduled_cap(make_connection, ingest, s3, bucket, operator_a,
                                                                  monkeypatch, clock):
    monkeypatch.setattr(schedule, "MAX_RUN_SPAN", 4)
    yesterday = mk_clock.now().date() - DAY
    in_range = epoch(datetime.combine(yesterday, time(12), UTC))
    ingest(0, 3, event_time=in_range)
    ingest(3, 1, event_time=in_range - 3 * 86_400)  # outside the range, between the others
    ingest(4, 7, event_time=in_range)
    connection = make_connection()

    made = connections.connection_reexport(connection=connection, date_from=yesterday, date_to=yesterday,
                                           by=operator_a)
    assert len(made) == 3 and all(r.kind == RunKind.BACKFILL for r in made)
    assert all(r.to_seq - r.from_seq < 4 for r in made)
    assert len({r.object_key for r in made}) == 3
    for run in made:
        runs.run_execute(run_id=run.pk)
        run.refresh_from_db()
        assert run.status == JobStatus.DONE and run.event_count <= 4, run.last_error
    assert sorted(exported_uuids(s3, bucket, prefix="backfill_")) == sorted(
        f"uuid-{i}" for i in range(11) if i != 3)
