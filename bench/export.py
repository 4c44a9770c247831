"""S3 export benchmark: one run of N events, against the floor, and its memory at N/5 and N.

    .venv/bin/python bench/export.py [--events N]      (default 1,000,000)

Uses the configured DATABASE_URL (a separate `<name>_exportbench` database on
PostgreSQL, a temporary file on SQLite) and a moto S3 server it starts itself
as a subprocess. Events are generated with bulk inserts (not through the API).

- export: the real run (`exports.services.runs.run_execute`): chunked reads
  through the ORM, JSON lines, gzip, multipart upload to S3, manifest;
- floor: the same rows read with one plain SQL cursor (sqlite3 / psycopg
  server-side cursor), the same records serialised with orjson and compressed
  with zlib at the same level, without Django or S3.
- memory: peak resident memory of a run over the first N/5 events and of a run
  over all N (the peak is reset before each). Flat means the two are close.

Target: export at least 0.7 of the floor's events/s; memory not growing with N.
"""

from __future__ import annotations

import argparse
import os
import random
import sqlite3
import sys
import time
import zlib
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from common import prepare_database, start_moto  # noqa: E402 - bench/ is the script's folder

NAMES = [("App Opened", "MOE_APP_OPENED"), ("Product Viewed", "PRODUCT_VIEWED"),
         ("Added To Cart", "ADD_TO_CART"), ("Purchase", "PURCHASE"), ("Email Sent", "MOE_EMAIL_SENT")]
CONTACTS = 5000
BATCH = 10_000
ATTRIBUTES = ["plan", "city"]


def configure(url: str, endpoint: str) -> None:
    os.environ.update(
        DATABASE_URL=url, DEBUG="0", SECRET_KEY="bench-" + "k" * 50, LOG_LEVEL="WARNING",
        MKTOPS_FIELD_KEYS="q1R0bVwE7dAm6m0c9oWJ8sJq1m2nJ4y6fQyb0c9S3JI=", ALLOWED_HOSTS="127.0.0.1",
        AWS_S3_ENDPOINT_URL=endpoint, AWS_S3_REGION_NAME="us-east-1", AWS_ACCESS_KEY_ID="bench",
        AWS_SECRET_ACCESS_KEY="bench", DJANGO_SETTINGS_MODULE="mktops.settings", MKTOPS_STATIC_MANIFEST="0")
    os.environ.pop("REDIS_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


# --- data ---------------------------------------------------------------------------
def generate(n: int):
    """A tenant, its contacts and n events, written with bulk inserts; returns the tenant."""
    from django.db import transaction

    from mktops import fastwrite, services
    from mktops.models import Contact, IngestCounter, UserAttributeName

    tenant = services.tenant_create(slug="exportbench", name="Export bench", db_name="export_bench")
    tenant.s3_export_enabled = True
    tenant.save()
    Contact.objects.bulk_create([Contact(tenant=tenant, uid=f"bench-user-{i}",
                                         attributes={"plan": "pro" if i % 3 else "free", "city": "Berlin",
                                                     "age": 20 + i % 50}) for i in range(CONTACTS)],
                                batch_size=1000)
    UserAttributeName.objects.bulk_create([UserAttributeName(tenant=tenant, name=a) for a in ATTRIBUTES])
    contact_ids = list(Contact.objects.filter(tenant=tenant).order_by("id").values_list("id", flat=True))
    rng, now = random.Random(1), datetime.now(tz=UTC)
    for start in range(0, n, BATCH):
        rows = [event_row(tenant.pk, contact_ids, rng, seq, now) for seq in range(start + 1, min(start + BATCH, n) + 1)]
        with transaction.atomic():
            fastwrite.insert_events(rows)
    IngestCounter.objects.update_or_create(tenant=tenant, defaults={"last_seq": n})
    return tenant


def event_row(tenant_id: int, contact_ids: list[int], rng: random.Random, seq: int, now: datetime) -> tuple:
    index = rng.randrange(CONTACTS)
    name, code = NAMES[seq % len(NAMES)]
    return (tenant_id, contact_ids[index], seq, f"bench-user-{index}",
            "CAMPAIGN_EVENT" if code.startswith("MOE_EMAIL") else "USER_ACTION_EVENT", code, name,
            f"{rng.getrandbits(128):032x}", datetime.fromtimestamp(1_790_000_000 + seq, tz=UTC), "API",
            {"campaign_id": f"cmp-{seq % 50}", "screen": "home", "value": seq % 97},
            {}, {"platform": "android", "app_version": "5.2.1"},
            f"bench-user-{index}@example.com" if code.startswith("MOE_EMAIL") else "", "", "",
            f"cmp-{seq % 50}", now)


# --- memory -------------------------------------------------------------------------
def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


def peak_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# --- the export ---------------------------------------------------------------------
def export(tenant, connection, to_seq: int) -> tuple[float, float, object]:
    """One real run over seq 1..to_seq; returns (seconds, peak RSS MB, run)."""
    from exports.models import RunKind
    from exports.services import runs, schedule
    from mktops import clock

    now = clock.now()
    run = schedule.run_create(connection=connection, kind=RunKind.SCHEDULED, from_seq=1, to_seq=to_seq,
                              window_start=now, window_end=now, now=now)
    if not reset_peak_rss():
        print("note: could not reset the peak RSS counter; peaks include earlier work")
    started = time.perf_counter()
    runs.run_execute(run_id=run.pk)
    seconds = time.perf_counter() - started
    run.refresh_from_db()
    if run.status != "done":
        raise SystemExit(f"the export run failed: {run.last_error}")
    return seconds, peak_rss_mb(), run


def setup_connection(tenant, endpoint: str):
    import boto3
    from botocore.config import Config

    from exports.models import ExportConnection
    from exports.services import connections

    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                 aws_secret_access_key="bench", config=Config(request_checksum_calculation="when_required")
                 ).create_bucket(Bucket="export-bench")
    connection = connections.connection_save(connection=ExportConnection(
        tenant=tenant, name="bench", bucket="export-bench", region="us-east-1", user_attributes=ATTRIBUTES))
    return connection


# --- the floor ----------------------------------------------------------------------
FLOOR_SQL = ("SELECT e.uid, e.event_type, e.event_code, e.event_name, e.event_uuid, e.event_time, e.event_source, "
             "CAST(e.event_attributes AS text), CAST(e.device_attributes AS text), e.email_id, e.mobile_number, "
             "e.push_id, CAST(c.attributes AS text) FROM mktops_event e JOIN mktops_contact c ON c.id = e.contact_id "
             "WHERE e.tenant_id = {p} AND e.seq >= {p} AND e.seq <= {p} ORDER BY e.seq")


def floor(url: str, tenant_id: int, n: int) -> float:
    import orjson

    compressor = zlib.compressobj(6, zlib.DEFLATED, 31)
    started = time.perf_counter()
    size = 0
    for rows in floor_chunks(url, tenant_id, n):
        lines = []
        for uid, etype, code, name, uuid, when, source, ea, da, email, mobile, push, ua in rows:
            if isinstance(when, str):
                when = datetime.fromisoformat(when)
            profile = orjson.loads(ua)
            event = {"uid": uid, "event_type": etype, "event_code": code, "event_name": name,
                     "user_attributes": {**{a: profile[a] for a in ATTRIBUTES if a in profile}, "user_id": uid},
                     "event_source": source, "event_attributes": orjson.Fragment(ea), "event_uuid": uuid,
                     "event_time": int(when.timestamp()), "device_attributes": orjson.Fragment(da)}
            for key, value in (("email_id", email), ("mobile_number", mobile), ("push_id", push)):
                if value:
                    event[key] = value
            lines.append(orjson.dumps({"app_name": "Export bench", "export_hour": "0", "db_name": "export_bench",
                                       "event": event, "export_day": "2026-01-01"},
                                      option=orjson.OPT_APPEND_NEWLINE))
        size += len(compressor.compress(b"".join(lines)))
    size += len(compressor.flush())
    return time.perf_counter() - started


def floor_chunks(url: str, tenant_id: int, n: int, chunk: int = 2000):
    if url.startswith("sqlite"):
        conn = sqlite3.connect(urlsplit(url).path)
        cursor = conn.execute(FLOOR_SQL.format(p="?"), (tenant_id, 1, n))
        while rows := cursor.fetchmany(chunk):
            yield rows
        conn.close()
        return
    import psycopg

    with psycopg.connect(url) as conn, conn.cursor(name="floor") as cursor:
        cursor.itersize = chunk
        cursor.execute(FLOOR_SQL.format(p="%s"), (tenant_id, 1, n))
        while rows := cursor.fetchmany(chunk):
            yield rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000)
    args = parser.parse_args()
    n, fifth = args.events, max(args.events // 5, 1)
    url = prepare_database(os.environ.get("DATABASE_URL", "sqlite:///"), "exportbench")
    engine = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    moto, endpoint = start_moto()
    try:
        configure(url, endpoint)
        started = time.perf_counter()
        tenant = generate(n)
        print(f"database: {engine}; generated {n} events in {time.perf_counter() - started:.1f} s (bulk inserts)")
        connection = setup_connection(tenant, endpoint)
        _, peak_fifth, _ = export(tenant, connection, fifth)
        seconds, peak_all, run = export(tenant, connection, n)
        floor_seconds = floor(url, tenant.pk, n)
    finally:
        moto.terminate()
        moto.wait(timeout=30)
    rate, floor_rate = n / seconds, n / floor_seconds
    print(f"file:   {run.object_key}: {run.event_count} events, {run.bytes_uncompressed / 1e6:.1f} MB of JSON, "
          f"{run.object_size / 1e6:.1f} MB gzipped")
    print(f"export: {rate:10.0f} events/s  (ORM chunks → JSON lines → gzip → multipart upload to moto, "
          f"{seconds:.1f} s)")
    print(f"floor:  {floor_rate:10.0f} events/s  (one plain SQL cursor → orjson → zlib, no Django, no S3, "
          f"{floor_seconds:.1f} s)")
    print(f"peak RSS: {peak_fifth:.0f} MB at N/5 = {fifth} events, {peak_all:.0f} MB at N = {n} events "
          f"(growth {peak_all - peak_fifth:+.0f} MB)")
    print("target: ratio >= 0.7; memory not growing with N (a 2-million event window under 200 MB)")
    print(f"ratio: {rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
