"""Ingestion benchmark: N events through the HTTP API, against the floor.

    .venv/bin/python bench/ingest.py [--events N] [--batch 1000]

Uses the configured DATABASE_URL (a separate `<name>_bench` database on
PostgreSQL, a temporary file on SQLite). Starts gunicorn with one worker,
sends the events in batches over one keep-alive connection, then writes
the same rows into a copy of the events table (same columns and indexes)
by the fastest plain means without Django: PostgreSQL COPY, SQLite
executemany in one transaction. Prints events/s for both; the last line is
the ratio (target: at least 0.3, and at least 10,000 events/s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
NAMES = [("App Opened", "MOE_APP_OPENED"), ("Product Viewed", "PRODUCT_VIEWED"),
         ("Added To Cart", "ADD_TO_CART"), ("Purchase", "PURCHASE"), ("Email Opened", "MOE_EMAIL_OPEN")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_events(n: int, seed: int = 1) -> list[dict]:
    rng = random.Random(seed)
    base = 1_790_000_000
    events = []
    for i in range(n):
        name, code = NAMES[i % len(NAMES)]
        uid = f"bench-user-{rng.randrange(5000)}"
        events.append({
            "uid": uid, "event_name": name, "event_code": code,
            "event_uuid": str(uuid.UUID(int=rng.getrandbits(128))),
            "event_time": base + i, "event_type": "CAMPAIGN_EVENT" if code.startswith("MOE_EMAIL") else
            "USER_ACTION_EVENT",
            "event_attributes": {"campaign_id": f"cmp-{i % 50}", "screen": "home", "value": i % 97},
            "user_attributes": {"plan": "pro" if i % 3 else "free", "city": "Berlin"},
            "device_attributes": {"platform": "android", "app_version": "5.2.1"},
            "email_id": f"{uid}@example.com",
        })
    return events


def bench_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, DEBUG="0", SECRET_KEY="bench-" + "k" * 50,
               MKTOPS_FIELD_KEYS="q1R0bVwE7dAm6m0c9oWJ8sJq1m2nJ4y6fQyb0c9S3JI=",
               ALLOWED_HOSTS="127.0.0.1", SECURE_SSL_REDIRECT="0", MKTOPS_STATIC_MANIFEST="0",
               LOG_LEVEL="WARNING")
    env.pop("REDIS_URL", None)
    return env


def prepare_database(url: str) -> str:
    """A fresh database for the benchmark; returns its URL."""
    if url.startswith("sqlite"):
        return f"sqlite:///{tempfile.mkdtemp(prefix='mkbench')}/bench.sqlite3"
    import psycopg

    parts = urlsplit(url)
    name = (parts.path.lstrip("/") or "postgres") + "_bench"
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
    return parts._replace(path=f"/{name}").geturl()


def manage(env: dict, *args: str) -> str:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def run_api(events: list[dict], batch: int, env: dict) -> float:
    manage(env, "migrate", "-v0")
    manage(env, "create_tenant", "bench", "Bench")
    key = manage(env, "create_api_key", "bench").splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "mktops.wsgi", "-b", f"127.0.0.1:{port}", "-w", "1",
         "--timeout", "300", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(port)
        bodies = [json.dumps({"events": events[i:i + batch]}).encode() for i in range(0, len(events), batch)]
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=300)
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # one warm-up request outside the clock (imports, first connection)
        post(conn, headers, json.dumps({"events": []}).encode())
        started = time.perf_counter()
        for body in bodies:
            answer = post(conn, headers, body)
            if answer.get("rejected"):
                raise SystemExit(f"the API rejected events: {answer['rejected'][:3]}")
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def post(conn, headers, body) -> dict:
    conn.request("POST", "/api/v1/events", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


def wait_for(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit("gunicorn did not start")


COLUMNS = ("tenant_id", "contact_id", "seq", "uid", "event_type", "event_code", "event_name", "event_uuid",
           "event_time", "event_source", "event_attributes", "user_attributes", "device_attributes",
           "email_id", "mobile_number", "push_id", "campaign_id", "received_at")


def floor_rows(events: list[dict]) -> list[tuple]:
    now = datetime.now(tz=UTC)
    return [
        (1, 1, i, e["uid"], e["event_type"], e["event_code"], e["event_name"], e["event_uuid"],
         datetime.fromtimestamp(e["event_time"], tz=UTC), "API", json.dumps(e["event_attributes"]),
         json.dumps(e["user_attributes"]), json.dumps(e["device_attributes"]), e["email_id"], "", "",
         e["event_attributes"]["campaign_id"], now)
        for i, e in enumerate(events, start=1)
    ]


def run_floor(events: list[dict], url: str) -> float:
    rows = floor_rows(events)
    if url.startswith("sqlite"):
        return floor_sqlite(rows, urlsplit(url).path)
    return floor_postgres(rows, url)


def floor_sqlite(rows, path: str) -> float:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    ddl = conn.execute("SELECT sql FROM sqlite_master WHERE name='mktops_event'").fetchone()[0]
    conn.execute(ddl.replace('"mktops_event"', '"floor_event"', 1))
    for (sql,) in conn.execute("SELECT sql FROM sqlite_master WHERE tbl_name='mktops_event' AND type='index' "
                               "AND sql IS NOT NULL").fetchall():
        conn.execute(sql.replace('"mktops_event"', '"floor_event"').replace("INDEX \"", "INDEX \"floor_"))
    rows = [tuple(v.isoformat(" ") if isinstance(v, datetime) else v for v in r) for r in rows]
    sql = f"INSERT INTO floor_event ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
    conn.execute("PRAGMA foreign_keys=OFF")
    started = time.perf_counter()
    with conn:
        conn.executemany(sql, rows)
    return time.perf_counter() - started


def floor_postgres(rows, url: str) -> float:
    import psycopg

    with psycopg.connect(url) as conn:
        conn.execute("CREATE TABLE floor_event (LIKE mktops_event INCLUDING DEFAULTS INCLUDING INDEXES "
                     "INCLUDING IDENTITY)")
        conn.commit()
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY floor_event ({', '.join(COLUMNS)}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    configured = os.environ.get("DATABASE_URL", "sqlite:///")
    url = prepare_database(configured)
    engine = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    events = make_events(args.events)
    api_seconds = run_api(events, args.batch, bench_env(url))
    floor_seconds = run_floor(events, url)
    api_rate, floor_rate = args.events / api_seconds, args.events / floor_seconds
    floor_means = "executemany in one transaction" if engine == "SQLite" else "COPY"
    print(f"database: {engine}; {args.events} events in batches of {args.batch}")
    print(f"api:   {api_rate:10.0f} events/s  (HTTP API, gunicorn 1 worker, {api_seconds:.1f} s)")
    print(f"floor: {floor_rate:10.0f} events/s  ({floor_means}, same rows and indexes, {floor_seconds:.1f} s)")
    print(f"target: ratio >= 0.3{', and >= 10000 events/s' if engine == 'PostgreSQL' else ''}")
    print(f"ratio: {api_rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
