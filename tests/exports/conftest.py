"""S3 export fixtures: an entitled tenant A, a bucket on the real S3 server, helpers to run due work."""

from __future__ import annotations

import gzip
from datetime import timedelta

import orjson
import pytest

from exports import tasks
from exports.models import ExportConnection
from exports.services import connections
from mktops import clock as mk_clock
from tests.conftest import make_event


@pytest.fixture
def entitled(tenant_a):
    tenant_a.s3_export_enabled = True
    tenant_a.app_name = "Acme App"
    tenant_a.save()
    return tenant_a


@pytest.fixture
def bucket(s3):
    return s3.create_bucket()


@pytest.fixture
def make_connection(entitled, bucket, operator_a):
    def make(**fields) -> ExportConnection:
        values = {"tenant": entitled, "name": "warehouse", "bucket": bucket, "region": "us-east-1"}
        values.update(fields)
        return connections.connection_save(connection=ExportConnection(**values), by=operator_a)

    return make


@pytest.fixture
def ingest(api):
    """Ingest events i in [start, start+count) through the real API; returns the payloads."""

    def send(start: int, count: int, **overrides) -> list[dict]:
        events = [make_event(i, **overrides) for i in range(start, start + count)]
        for offset in range(0, len(events), 1000):
            response = api("/events", {"events": events[offset:offset + 1000]})
            assert response.status_code == 200, response.content
            assert response.json()["accepted"] == len(events[offset:offset + 1000])
        return events

    return send


def run_due(*, advance: timedelta | None = timedelta(minutes=15)) -> list:
    """Move time to the next slot, sweep, and execute every due run as the worker would."""
    if advance:
        mk_clock.advance(advance)
    return [tasks.export_run(run_id) for run_id in tasks.exports_sweep()]


@pytest.fixture
def due(clock):
    return run_due


def read_records(s3, bucket: str, key: str, gpg_home=None) -> list[dict]:
    data = s3.read(key, bucket)
    if gpg_home is not None:
        data = gpg_home.decrypt(data)
    return [orjson.loads(line) for line in gzip.decompress(data).splitlines()]


def data_keys(s3, bucket: str, prefix: str = "") -> list[str]:
    return sorted(k for k in s3.list_keys(bucket, prefix) if not k.endswith(".manifest.json")
                  and "mktops_connection_test" not in k)


def exported_uuids(s3, bucket: str, gpg_home=None, prefix: str = "") -> list[str]:
    return [r["event"]["event_uuid"] for key in data_keys(s3, bucket, prefix)
            for r in read_records(s3, bucket, key, gpg_home)]
