"""Issue 12 item 13: scale-out, shown. Two real `qcluster` processes against PostgreSQL and Redis;
events are ingested through the API while one cluster (its whole process group) is killed with
SIGKILL; every archive write and every export window is done exactly once (counted in moto S3)."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from django.conf import settings
from django.db import connection

from archive import tasks as archive_tasks
from archive.models import ArchivedMessage, ArchiveSettings, Outcome
from exports.models import ExportConnection, ExportRun
from exports.services import connections, schedule
from mktops import clock
from mktops.jobs import ACTIVE, JobStatus
from mktops.models import WorkerHeartbeat
from tests.conftest import email_sent_event

ROOT = Path(__file__).resolve().parent.parent
BATCHES, PER_BATCH, KILL_AFTER = 8, 25, 3
DEADLINE = 45  # seconds for everything to be done after the last batch

pytestmark = [
    pytest.mark.skipif(not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"),
                       reason="several clusters need PostgreSQL (on SQLite run one cluster, as the README says)"),
    pytest.mark.skipif(not settings.REDIS_URL, reason="the scale-out test runs with Redis as the broker"),
]


def _database_url() -> str:
    d = connection.settings_dict  # the test database pytest-django made
    auth = d["USER"] + (f":{d['PASSWORD']}" if d["PASSWORD"] else "")
    return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


def _wait(what: str, done, deadline: float, tick=None):
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"not done in time: {what}")
        if tick:
            tick()
        time.sleep(1)


@pytest.fixture
def clusters(s3, request):
    from django_q.brokers import get_broker

    get_broker().purge_queue()  # nothing left over by earlier tests
    env = {**os.environ, "DATABASE_URL": _database_url(), "REDIS_URL": settings.REDIS_URL,
           "AWS_S3_ENDPOINT_URL": s3.endpoint_url, "AWS_S3_REGION_NAME": settings.AWS_S3_REGION_NAME,
           "AWS_ACCESS_KEY_ID": settings.AWS_ACCESS_KEY_ID, "AWS_SECRET_ACCESS_KEY": settings.AWS_SECRET_ACCESS_KEY,
           "MKTOPS_ARCHIVE_BUCKET": s3.bucket, "Q_WORKERS": "2", "MKTOPS_WORKER_HEARTBEAT_SECONDS": "1"}
    procs = [subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=ROOT, env=env, start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for _ in range(2)]

    def stop():
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        get_broker().purge_queue()

    request.addfinalizer(stop)
    _wait("four workers beating", lambda: WorkerHeartbeat.objects.count() >= 4, time.monotonic() + 30)
    return procs


@pytest.mark.django_db(transaction=True)
def test_two_clusters_one_killed_every_write_and_window_exactly_once(tenant_a, api, s3, clusters, settings):
    settings.MKTOPS_WORKER_HEARTBEAT_SECONDS = 1  # this process sweeps with the clusters' idea of "gone"
    tenant_a.archive_enabled = tenant_a.s3_export_enabled = True
    tenant_a.save()
    # the operator has confirmed the platform store (messages wait until a destination is confirmed)
    ArchiveSettings.objects.create(tenant=tenant_a, locked_at=clock.now())
    bucket = s3.create_bucket()
    conn = connections.connection_save(connection=ExportConnection(tenant=tenant_a, name="warehouse", bucket=bucket,
                                                                   region="us-east-1"))

    def sweep():
        # what the clusters' schedules do every minute, every second here; and a new window now
        ExportConnection.objects.filter(pk=conn.pk).update(next_run_at=clock.now())
        archive_tasks.sweep()
        schedule.exports_sweep()

    for batch in range(BATCHES):
        events = [email_sent_event(batch * PER_BATCH + i) for i in range(PER_BATCH)]
        assert api("/events", {"events": events}).status_code == 200
        if batch == KILL_AFTER:
            os.killpg(clusters[0].pid, signal.SIGKILL)  # the machine is gone, its workers with it
        sweep()
    total = BATCHES * PER_BATCH
    deadline = time.monotonic() + DEADLINE

    def all_done():
        stored = ArchivedMessage.objects.filter(status=JobStatus.DONE, outcome=Outcome.STORED).count()
        conn.refresh_from_db()
        last = max(ExportRun.objects.values_list("to_seq", flat=True), default=0)
        return (stored == total and not ExportRun.objects.filter(status__in=ACTIVE).exists()
                and conn.exported_seq >= last >= total)

    _wait("every message archived and every event exported", all_done, deadline, tick=sweep)

    # archive: one object per message, each where its row says
    archive_keys = s3.list_keys()
    assert len(archive_keys) == total == len(set(archive_keys))
    assert set(archive_keys) == set(ArchivedMessage.objects.values_list("key", flat=True))
    # exports: the windows tile the sequence without overlap, each file once, each event once
    runs = list(ExportRun.objects.filter(status=JobStatus.DONE).order_by("from_seq"))
    assert [r.from_seq for r in runs] == [1] + [r.to_seq + 1 for r in runs[:-1]]
    uuids = []
    for run in runs:
        if run.object_key:
            uuids += [orjson.loads(line)["event"]["event_uuid"]
                      for line in gzip.decompress(s3.read(run.object_key, bucket)).splitlines()]
    assert sorted(uuids) == sorted(f"uuid-{i}" for i in range(total))
