"""Issue 13 item 15: usage per connection, not only per tenant (what the CSM bills): counted with each file,
kept after the connection is deleted, back-filled from the runs that wrote files; CSMs only. Against moto."""

import importlib

from django.apps import apps as django_apps

from exports.models import ExportConnection, ExportConnectionUsage, ExportRun, ExportUsage
from exports.services import connections
from mktops import clock as mk_clock

USAGE = "/admin/exports/exportconnectionusage/"
BASE = "/admin/exports/exportconnection/"


def test_each_connection_has_its_own_usage(make_connection, ingest, due, operator_a):
    first = make_connection(name="warehouse")
    second = make_connection(name="My S3 Export", frequency="daily")
    ingest(0, 4)
    runs = due()
    assert len(runs) == 2
    month = mk_clock.now().date().replace(day=1)
    rows = {row.connection_id: row for row in ExportConnectionUsage.objects.filter(month=month)}
    for connection in (first, second):
        done = ExportRun.objects.get(connection=connection)
        assert (rows[connection.pk].events, rows[connection.pk].bytes, rows[connection.pk].files) == (
            done.event_count, done.object_size, 1)
    tenant = ExportUsage.objects.get(tenant=first.tenant, month=month)
    assert tenant.bytes == sum(r.bytes for r in rows.values()) and tenant.files == 2

    connections.connection_delete(connection=ExportConnection.objects.get(pk=second.pk), by=operator_a)
    kept = ExportConnectionUsage.objects.get(connection_name="My S3 Export")
    assert kept.connection_id is None and kept.events == 4  # a month exported is still owed


def test_the_months_before_are_back_filled_from_the_runs(make_connection, ingest, due):
    connection = make_connection()
    ingest(0, 3)
    due()
    ingest(3, 2)
    due()
    expected = list(ExportConnectionUsage.objects.values_list("connection_id", "month", "events", "bytes", "files"))
    ExportConnectionUsage.objects.all().delete()
    migration = importlib.import_module("exports.migrations.0007_connection_usage")
    migration.backfill(django_apps, None)
    assert list(ExportConnectionUsage.objects.values_list("connection_id", "month", "events", "bytes",
                                                          "files")) == expected
    assert expected[0][0] == connection.pk and expected[0][2] == 5 and expected[0][4] == 2


def test_usage_per_connection_for_csms_only(make_connection, ingest, due, as_csm, as_operator_a, as_support_a,
                                            as_operator_b):
    connection = make_connection(name="My S3 Export")
    ingest(0, 2)
    due()
    row = ExportConnectionUsage.objects.get()
    page = as_csm.get(USAGE)
    assert page.status_code == 200 and "My S3 Export" in page.content.decode()
    assert as_csm.get(f"{USAGE}{row.pk}/change/").status_code == 200
    assert b'id="export-usage"' in as_csm.get(f"{BASE}{connection.pk}/change/").content
    for client in (as_operator_a, as_support_a, as_operator_b):
        assert client.get(USAGE).status_code == 403
    assert b'id="export-usage"' not in as_operator_a.get(f"{BASE}{connection.pk}/change/").content
    assert as_operator_b.get(f"{BASE}{connection.pk}/change/").status_code == 404
