"""Issue 13 item 7: the seed's own connection name "My S3 Export", and UTF-8 names and folders, work end to
end against moto: saved from the form, Test connection, the file and its manifest at the exact key, a
re-export, the clean-up of an unfinished upload under the key."""

from datetime import UTC, datetime

from exports.models import ExportConnection
from exports.services import connections, paths
from exports.services.destination import run_target
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from mktops.storage import s3 as storage
from tests.exports.conftest import data_keys, read_records
from tests.exports.test_admin import form_data

BASE = "/admin/exports/exportconnection/"


def test_the_seeds_example_name_is_saved_from_the_form(as_operator_a, entitled, bucket, s3):
    response = as_operator_a.post(f"{BASE}add/", form_data(entitled, bucket, name="My S3 Export",
                                                            folder_path="my folder/データ", region="us-east-1"))
    assert response.status_code == 302, response.content.decode()[:3000]
    connection = ExportConnection.objects.get(tenant=entitled)
    assert (connection.name, connection.folder_path) == ("My S3 Export", "my folder/データ")


def test_spaces_and_utf8_end_to_end(make_connection, ingest, due, s3, bucket, operator_a, clock):
    connection = make_connection(name="My S3 Export", folder_path="エクスポート/données 2026")
    outcome = connections.connection_test(connection=connection, by=operator_a)
    assert outcome.ok, outcome.message
    assert outcome.detail in s3.list_keys(bucket)
    assert outcome.detail.startswith("エクスポート/données 2026_My S3 Export/mktops_connection_test_")

    ingest(0, 3, event_time=int(mk_clock.now().timestamp()))
    (run,) = due()
    run.refresh_from_db()
    assert run.status == JobStatus.DONE, run.last_error
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    key = (f"エクスポート/données 2026_My S3 Export/export_day={made:%d-%m-%Y}/"
           f"event_exports_{run.export_timestamp}.json.gz")
    assert run.object_key == key
    assert data_keys(s3, bucket) == [key]
    assert key + ".manifest.json" in s3.list_keys(bucket)
    assert [r["event"]["event_uuid"] for r in read_records(s3, bucket, key)] == ["uuid-0", "uuid-1", "uuid-2"]

    day = mk_clock.now().date()
    (backfill,) = connections.connection_reexport(connection=connection, date_from=day, date_to=day,
                                                  by=operator_a)
    (done,) = due(advance=None)
    done.refresh_from_db()
    assert done.status == JobStatus.DONE, done.last_error
    assert done.object_key.startswith("エクスポート/données 2026_backfill_My S3 Export/export_day=")
    assert done.object_key in data_keys(s3, bucket)


def test_a_japanese_name_and_an_unfinished_upload_under_it(make_connection, s3, bucket, clock):
    connection = make_connection(name="エクスポート")
    key = paths.example_key(connection, mk_clock.now())
    assert key.startswith("エクスポート/export_day=")
    s3.boto3().create_multipart_upload(Bucket=bucket, Key=key)  # a worker died mid-upload
    target = paths.connection_target(connection)
    assert storage.abort_stale_uploads(target, key) == 1
    assert s3.boto3().list_multipart_uploads(Bucket=bucket).get("Uploads", []) == []
    assert run_target  # the run's target is built the same way (destination.run_target)
