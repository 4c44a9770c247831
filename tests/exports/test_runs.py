"""Runs against the real S3 server and the real gpg binary: every selected event in exactly one file."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from exports.models import ExportRun, ExportUsage, Frequency, RunKind
from exports.services import connections, runs, schedule
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from mktops.storage import s3 as storage
from tests.conftest import make_event
from tests.exports.conftest import data_keys, exported_uuids, read_records


def expected_record(payload: dict, *, run: ExportRun, attributes: tuple = ()) -> dict:
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    event = {
        "uid": payload["uid"], "event_type": payload.get("event_type", "USER_ACTION_EVENT"),
        "event_code": payload["event_code"], "event_name": payload["event_name"],
        "user_attributes": {**{a: payload["user_attributes"][a] for a in attributes
                               if a in payload.get("user_attributes", {})}, "user_id": payload["uid"]},
        "event_source": payload.get("event_source", "API"),
        "event_attributes": payload.get("event_attributes", {}), "event_uuid": payload["event_uuid"],
        "event_time": payload["event_time"], "device_attributes": payload.get("device_attributes", {}),
    }
    for field in ("email_id", "mobile_number", "push_id"):
        if payload.get(field):
            event[field] = payload[field]
    return {"app_name": "Acme App", "export_hour": str(made.hour), "db_name": "tenant_a", "event": event,
            "export_day": f"{made:%Y-%m-%d}"}


def rich_event(i: int) -> dict:
    return make_event(
        i, user_attributes={"plan": f"plan-{i % 3}", "city": "Pune"},
        event_attributes={"amount": i * 1.5, "items": [i, "x"], "note": "ünïcode ✓"},
        device_attributes={"os": "android"} if i % 2 else {},
        email_id=f"user{i}@example.com" if i % 3 == 0 else "",
        mobile_number="+919800000000" if i % 5 == 0 else "",
    )


def test_encrypted_export_round_trip_through_gpg(make_connection, api, gpg_home, due, s3, bucket, entitled):
    api("/events", {"events": [rich_event(0)]})  # the catalogue now knows "plan" and "city"
    connection = make_connection(folder_path="exports/mktops", encryption="pgp", pgp_public_key=gpg_home.public_key,
                                 user_attributes=["plan"])
    payloads = [rich_event(i) for i in range(1, 401)]
    assert api("/events", {"events": payloads}).json()["accepted"] == 400

    (run,) = due()
    run.refresh_from_db()
    assert run.status == JobStatus.DONE, run.last_error
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    assert run.object_key == (f"exports/mktops_warehouse/export_day={made:%d-%m-%Y}/"
                              f"event_exports_{run.export_timestamp}.json.gz.gpg")
    records = read_records(s3, bucket, run.object_key, gpg_home)  # gpg --decrypt, then gunzip
    assert records == [expected_record(p, run=run, attributes=("plan",)) for p in payloads]

    body = s3.read(run.object_key, bucket)
    manifest = json.loads(s3.read(run.object_key + ".manifest.json", bucket))
    assert manifest["event_count"] == 400
    assert manifest["sha256"] == hashlib.sha256(body).hexdigest() == run.sha256
    assert manifest["window"]["from_seq"] == run.from_seq and manifest["window"]["to_seq"] == run.to_seq
    assert run.event_count == 400 and run.object_size == len(body)
    assert run.bytes_uncompressed > run.bytes_compressed > 0 and run.duration_seconds is not None
    connection.refresh_from_db()
    assert connection.exported_seq == run.to_seq and connection.last_success_at is not None
    usage = ExportUsage.objects.get(tenant=entitled)
    assert (usage.events, usage.bytes, usage.files) == (400, len(body), 1)


def test_plain_export_without_folder_and_with_selected_events(make_connection, api, due, s3, bucket):
    api("/events", {"events": [make_event(0), make_event(1, event_name="Login", event_code="LOGIN")]})
    make_connection(all_events=False, event_names=["Purchase"])
    api("/events", {"events": [make_event(i, event_name="Purchase" if i % 2 else "Login") for i in range(2, 12)]})
    (run,) = due()
    assert run.object_key.startswith("warehouse/export_day=") and run.object_key.endswith(".json.gz")
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(3, 12, 2)]


def test_all_events_include_names_that_appear_later(make_connection, ingest, due, s3, bucket):
    make_connection()
    ingest(0, 3)
    ingest(3, 2, event_name="Brand New Event", event_code="NEW")
    due()
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(5)]


def test_events_before_setup_are_not_in_scheduled_files(make_connection, ingest, due, s3, bucket):
    ingest(0, 5)
    make_connection()
    ingest(5, 5)
    due()
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(5, 10)]


def test_first_file_at_next_15_minute_boundary_even_when_daily(make_connection, ingest, clock, s3, bucket):
    connection = make_connection(frequency=Frequency.DAILY)
    now = mk_clock.now()
    assert connection.next_run_at == schedule.next_slot(Frequency.EVERY_15_MINUTES, now)
    assert connection.next_run_at - now <= timedelta(minutes=15)
    ingest(0, 3)
    mk_clock.advance(connection.next_run_at - now)
    from exports import tasks

    (run_id,) = tasks.exports_sweep()
    tasks.export_run(run_id)
    assert exported_uuids(s3, bucket) == ["uuid-0", "uuid-1", "uuid-2"]
    connection.refresh_from_db()
    assert connection.next_run_at == schedule.next_slot(Frequency.DAILY, mk_clock.now())


def test_frequency_changes_lose_and_duplicate_nothing(make_connection, ingest, due, s3, bucket, operator_a):
    connection = make_connection()
    sent = ingest(0, 50)
    due()
    for step, frequency in enumerate([Frequency.DAILY, Frequency.WEEKLY, Frequency.EVERY_15_MINUTES, Frequency.DAILY]):
        sent += ingest(100 * (step + 1), 30)
        connection.frequency = frequency
        connections.connection_save(connection=connection, by=operator_a, frequency_changed=True)
        sent += ingest(100 * (step + 1) + 50, 20)
        due()
    due(advance=timedelta(days=8))
    assert sorted(exported_uuids(s3, bucket)) == sorted(e["event_uuid"] for e in sent)
    assert len(exported_uuids(s3, bucket)) == len(sent)


def test_no_run_when_nothing_was_ingested_and_empty_selection_writes_no_file(make_connection, api, due, s3, bucket):
    api("/events", {"events": [make_event(0)]})
    connection = make_connection(all_events=False, event_names=["Purchase"])
    assert due() == []
    api("/events", {"events": [make_event(1, event_name="Login", event_code="LOGIN")]})
    (run,) = due()
    assert run.status == JobStatus.DONE and run.event_count == 0 and run.last_error == runs.MSG_NO_EVENTS
    assert data_keys(s3, bucket) == []
    connection.refresh_from_db()
    assert connection.exported_seq == run.to_seq


def backoff_was(run, delay: timedelta) -> bool:
    """The next attempt is `delay` after the failed attempt ended (which took a moment itself)."""
    waited = run.next_attempt_at - run.last_attempt_at
    return delay <= waited < delay + timedelta(seconds=30)


def test_upload_failure_retries_with_backoff_then_each_event_once(make_connection, ingest, due, s3, s3_server_factory,
                                                                     settings, clock):
    server = s3_server_factory()
    settings.AWS_S3_ENDPOINT_URL = server.endpoint_url
    bucket = s3.create_bucket()
    connection = make_connection(bucket=bucket)
    ingest(0, 20)
    server.stop()
    (run,) = due()
    assert run.status == JobStatus.RETRYING and run.attempts == 1
    assert "Could not reach the S3 endpoint" in run.last_error
    assert backoff_was(run, runs.RETRY_DELAYS[0])
    connection.refresh_from_db()
    assert connection.exported_seq == run.from_seq - 1  # the watermark did not move
    ingest(20, 5)  # waits for the next file: the failed run's window is fixed
    (again,) = due(advance=timedelta(minutes=1))
    assert again.pk == run.pk and again.attempts == 2 and again.status == JobStatus.RETRYING
    assert backoff_was(again, runs.RETRY_DELAYS[1])
    server.start()
    (done,) = due(advance=timedelta(minutes=5))
    assert done.pk == run.pk and done.status == JobStatus.DONE
    due()
    assert sorted(exported_uuids(s3, bucket)) == sorted(f"uuid-{i}" for i in range(25))
    assert len(exported_uuids(s3, bucket)) == 25


class WorkerKilled(BaseException):
    """Stands for SIGKILL: no except clause, no context manager exit runs on the way out."""


def test_killed_worker_mid_upload_is_rerun_into_the_same_key(make_connection, api, due, s3, bucket, clock,
                                                            monkeypatch):
    connection = make_connection()
    noisy = [make_event(i, event_attributes={"blob": hashlib.sha256(str(i).encode()).hexdigest() * 4})
             for i in range(3000)]
    for offset in range(0, 3000, 1000):
        api("/events", {"events": noisy[offset:offset + 1000]})
    mk_clock.advance(timedelta(minutes=15))
    from exports import tasks

    (run_id,) = tasks.exports_sweep()
    parts = []
    real_send = storage.MultipartUpload._send_part

    def send_then_die(self, chunk):
        real_send(self, chunk)
        parts.append(len(chunk))
        raise WorkerKilled

    monkeypatch.setattr(storage.MultipartUpload, "_send_part", send_then_die)
    monkeypatch.setattr(storage.MultipartUpload, "abort", lambda self: None)  # a dead process aborts nothing
    with pytest.raises(WorkerKilled):
        runs.run_execute(run_id=run_id, part_size=64 * 1024)
    monkeypatch.undo()
    run = ExportRun.objects.get(pk=run_id)
    assert parts and run.status == JobStatus.RUNNING
    uploads = s3.boto3().list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    assert [u["Key"] for u in uploads] == [run.object_key]
    assert data_keys(s3, bucket) == []

    assert due(advance=None) == []  # the lease still holds
    (rerun,) = due(advance=ExportRun.LEASE + timedelta(seconds=1))
    assert rerun.pk == run_id and rerun.status == JobStatus.DONE and rerun.attempts == 2
    assert rerun.object_key == run.object_key
    assert s3.boto3().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert exported_uuids(s3, bucket) == [e["event_uuid"] for e in noisy]
    connection.refresh_from_db()
    assert connection.exported_seq == run.to_seq


def test_worker_killed_after_upload_before_recording_rewrites_the_same_file(make_connection, ingest, due, s3, bucket,
                                                                           clock, monkeypatch):
    make_connection()
    ingest(0, 10)

    def die(**kwargs):
        raise WorkerKilled

    monkeypatch.setattr(runs, "run_record_success", die)
    with pytest.raises(WorkerKilled):
        due()
    monkeypatch.undo()
    assert len(data_keys(s3, bucket)) == 1
    ingest(10, 5)
    due(advance=ExportRun.LEASE + timedelta(seconds=1))  # the same window again, into the same key
    due()  # and the next window
    assert len(data_keys(s3, bucket)) == 2
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(15)]


def test_paused_connection_sends_nothing_then_catches_up(make_connection, ingest, due, s3, bucket, operator_a):
    connection = make_connection()
    connections.connection_pause(connection=connection, by=operator_a)
    ingest(0, 4)
    assert due() == []
    connections.connection_resume(connection=connection, by=operator_a)
    ingest(4, 2)
    due()
    assert exported_uuids(s3, bucket) == [f"uuid-{i}" for i in range(6)]


def test_tenant_without_entitlement_gets_no_runs(make_connection, ingest, due, entitled):
    connection = make_connection()
    entitled.s3_export_enabled = False
    entitled.save()
    ingest(0, 3)
    assert due() == []
    assert not ExportRun.objects.exists()
    connection.refresh_from_db()
    health = connections.connection_health(connection=connection)
    assert health.state == "not_entitled" and health.text == connections.ERR_NOT_ENTITLED


def test_reexport_of_past_days_goes_to_backfill(make_connection, ingest, due, s3, bucket, operator_a, clock):
    today = mk_clock.now().date()
    day = lambda n: int(datetime.combine(today - timedelta(days=n), datetime.min.time(), UTC).timestamp())  # noqa: E731
    ingest(0, 3, event_time=day(3) + 3600)
    ingest(3, 2, event_time=day(1) + 60)
    ingest(5, 2, event_time=day(6))
    connection = make_connection(folder_path="wh")
    watermark = connection.exported_seq
    (run,) = connections.connection_reexport(connection=connection, date_from=today - timedelta(days=4),
                                             date_to=today - timedelta(days=1), by=operator_a)
    assert run.kind == RunKind.BACKFILL and run.object_key.startswith("wh_backfill_warehouse/export_day=")
    runs.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.DONE and run.event_count == 5
    assert exported_uuids(s3, bucket, prefix="wh_backfill_") == [f"uuid-{i}" for i in range(5)]
    connection.refresh_from_db()
    assert connection.exported_seq == watermark  # untouched by the backfill
    assert due() == []  # nothing new since setup: the scheduled export is unaffected


def test_reexport_rules(make_connection, operator_a, clock):
    from django.core.exceptions import ValidationError

    connection = make_connection()
    today = mk_clock.now().date()
    cases = [
        (today - timedelta(days=1), today - timedelta(days=2), "date_from", connections.ERR_RANGE_ORDER),
        (today, today + timedelta(days=1), "date_to", connections.ERR_RANGE_FUTURE),
    ]
    for first, last, field, message in cases:
        with pytest.raises(ValidationError) as err:
            connections.connection_reexport(connection=connection, date_from=first, date_to=last, by=operator_a)
        assert err.value.message_dict[field] == [message]
    with pytest.raises(ValidationError) as err:
        connections.connection_reexport(connection=connection, date_from=today - timedelta(days=31), date_to=today,
                                        by=operator_a)
    assert "Events are kept for 30 days" in err.value.message_dict["date_from"][0]


def test_health_and_lag(make_connection, ingest, due, clock):
    connection = make_connection()
    assert connections.connection_health(connection=connection).state == "waiting"
    ingest(0, 2)
    mk_clock.advance(timedelta(hours=2))
    health = connections.connection_health(connection=connection)
    assert health.state == "lagging" and health.lag >= timedelta(hours=2)
    due(advance=None)
    connection.refresh_from_db()
    health = connections.connection_health(connection=connection)
    assert health.state == "ok" and health.lag is None


def test_failing_health_names_the_error(make_connection, ingest, due, s3):
    connection = make_connection(bucket="no-such-bucket-for-exports")
    ingest(0, 1)
    (run,) = due()
    assert run.status == JobStatus.RETRYING and "does not exist" in run.last_error
    health = connections.connection_health(connection=connection)
    assert health.state == "failing" and "does not exist" in health.text


def test_health_says_last_file_only_when_a_file_was_written(make_connection, ingest, due, s3, bucket):
    ingest(0, 1)  # "Purchase" in the catalogue, before the connection's watermark
    connection = make_connection(all_events=False, event_names=["Purchase"])
    ingest(1, 2, event_name="Page View", event_code="PAGE_VIEW")
    (run,) = due()
    assert run.status == JobStatus.DONE and run.object_size == 0
    connection.refresh_from_db()
    health = connections.connection_health(connection=connection)
    assert connection.last_success_at is not None and connection.last_file_at is None
    assert "last file" not in health.text and "no file has been written yet" in health.text
    ingest(3, 1)
    due()
    connection.refresh_from_db()
    assert connection.last_file_at is not None
    assert connections.connection_health(connection=connection).text.startswith("Healthy: last file")


def test_health_says_when_the_last_test_connection_failed(make_connection, ingest, due, s3, bucket, operator_a):
    connection = make_connection()
    ingest(0, 1)
    due()
    connection.refresh_from_db()
    assert connections.connection_health(connection=connection).state == "ok"
    connection.bucket = "no-such-bucket-for-exports"
    result = connections.connection_test(connection=connection, by=operator_a)
    assert not result.ok
    connection.refresh_from_db()
    health = connections.connection_health(connection=connection)
    assert health.state == "test_failed" and health.text.startswith("Test connection failed at ")
    assert result.message in health.text


def test_run_ranges_are_fixed_and_contiguous(make_connection, ingest, due):
    connection = make_connection()
    for start in (0, 10, 20):
        ingest(start, 10)
        due()
    ranges = list(ExportRun.objects.filter(connection=connection).order_by("id").values_list("from_seq", "to_seq"))
    assert all(b[0] == a[1] + 1 for a, b in zip(ranges, ranges[1:], strict=False))
    assert sum(r.event_count for r in ExportRun.objects.filter(connection=connection)) == 30


def test_next_slot_per_frequency():
    at = datetime(2026, 11, 25, 10, 7, tzinfo=UTC)  # a Wednesday
    assert schedule.next_slot(Frequency.EVERY_15_MINUTES, at) == datetime(2026, 11, 25, 10, 15, tzinfo=UTC)
    assert schedule.next_slot(Frequency.EVERY_15_MINUTES, at.replace(minute=15)) == at.replace(minute=30)
    assert schedule.next_slot(Frequency.DAILY, at) == datetime(2026, 11, 26, tzinfo=UTC)
    assert schedule.next_slot(Frequency.WEEKLY, at) == datetime(2026, 11, 30, tzinfo=UTC)
    assert schedule.next_slot(Frequency.WEEKLY, datetime(2026, 11, 30, tzinfo=UTC)) == datetime(2026, 12, 7,
                                                                                                  tzinfo=UTC)


def test_manifest_is_plain_json_beside_each_file(make_connection, ingest, due, s3, bucket):
    make_connection()
    ingest(0, 2)
    (run,) = due()
    keys = sorted(s3.list_keys(bucket))
    assert keys == sorted([run.object_key, run.object_key + ".manifest.json"])
    assert orjson.loads(s3.read(keys[1], bucket))["object_key"] == run.object_key
