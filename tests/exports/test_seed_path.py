"""Issue 13 item 5: the seed's key form `[<folder_path>_]<connection_name>/export_day=<DD-MM-YYYY>/
event_exports_<epoch>.json.gz[.gpg]`, shown as `s3://…` on the connection page; keys stay unique where
two prefixes read the same. Against moto."""

from datetime import UTC, datetime

from exports.models import ExportRun, RunKind
from exports.services import paths, rules, schedule
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from tests.exports.conftest import data_keys, read_records

BASE = "/admin/exports/exportconnection/"


def test_the_file_lands_at_the_seeds_path(make_connection, ingest, due, s3, bucket):
    connection = make_connection(folder_path="my_folder/sub_folder")
    ingest(0, 3)
    (run,) = due()
    run.refresh_from_db()
    assert run.status == JobStatus.DONE, run.last_error
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    key = f"my_folder/sub_folder_warehouse/export_day={made:%d-%m-%Y}/event_exports_{run.export_timestamp}.json.gz"
    assert data_keys(s3, bucket) == [key]
    assert [r["event"]["event_uuid"] for r in read_records(s3, bucket, key)] == ["uuid-0", "uuid-1", "uuid-2"]
    assert run.prefix == "my_folder/sub_folder_warehouse/"
    # the bucket policy grants exactly the objects under "<folder>_…"
    policy = paths.connection_bucket_policy(connection)
    assert policy["Statement"][0]["Resource"] == f"arn:aws:s3:::{bucket}/my_folder/sub_folder_*"
    assert connection.name == "warehouse"


def test_without_a_folder_the_name_starts_the_key(make_connection, clock):
    connection = make_connection()
    now = mk_clock.now()
    assert paths.example_key(connection, now) == (
        f"warehouse/export_day={now:%d-%m-%Y}/event_exports_{int(now.timestamp())}.json.gz")
    assert paths.connection_prefix(connection, backfill=True) == "backfill_warehouse/"


def test_the_connection_page_shows_the_full_s3_path(make_connection, as_operator_a, bucket, clock):
    connection = make_connection(folder_path="dump")
    html = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    now = mk_clock.now()
    assert f"s3://{bucket}/dump_warehouse/export_day={now:%d-%m-%Y}/event_exports_" in html
    assert 'id="export-path-preview"' in html  # and the live one in the form


def test_prefixes_that_read_the_same_never_share_a_key(make_connection, bucket, clock):
    """"a_b" + "c" and "a" + "b_c" both give "a_b_c/": file names are unique per bucket and prefix
    string (unique_timestamp), whoever made the prefix, so neither replaces the other's file."""
    one = make_connection(folder_path="a_b", name="c")
    other = make_connection(folder_path="a", name="b_c")
    assert paths.connection_prefix(one) == paths.connection_prefix(other) == "a_b_c/"
    now = mk_clock.now()
    made = [schedule.run_create(connection=c, kind=RunKind.SCHEDULED, from_seq=1, to_seq=1, window_start=now,
                                window_end=now, now=now) for c in (one, other)]
    assert made[0].object_key != made[1].object_key
    assert ExportRun.objects.filter(object_key=made[0].object_key).count() == 1


def test_names_that_would_share_the_reexport_prefix_are_reserved(make_connection, as_operator_a, tenant_a, bucket):
    from tests.exports.test_admin import form_data, shows

    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, name="backfill_warehouse"))
    assert response.status_code == 200 and shows(response, rules.ERR_NAME_RESERVED)


def test_the_reexport_page_names_its_prefix(make_connection, as_operator_a, bucket):
    connection = make_connection(folder_path="dump")
    html = as_operator_a.get(f"{BASE}{connection.pk}/reexport/").content.decode()
    assert f"s3://{bucket}/dump_backfill_warehouse/" in html
