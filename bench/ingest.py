"""Ingestion benchmark: N events through the HTTP API, against the floor.

    .venv/bin/python bench/ingest.py [--events N] [--batch 1000] [--workers W] [--rounds R]

Uses the configured DATABASE_URL (a separate `<name>_bench` database on
PostgreSQL, a temporary file on SQLite). Starts gunicorn with W workers
(default: one per core, as it is deployed), sends the events in batches
over W keep-alive connections (a sender with W requests in flight; the
batches of one tenant are still stored one after the other, in sequence
order, while the next one is parsed and validated), then writes
the same rows into a copy of the events table (same columns and indexes)
by the fastest plain means without Django: PostgreSQL COPY, SQLite
executemany in one transaction. Repeats both in R alternated rounds, each
on a fresh database (default 3), and keeps the best of each: the speed of
these shared machines varies by a third from minute to minute, and
alternating lets that weigh on both sides alike. Prints events/s for both;
the last line is the ratio (target: at least 0.3, and at least 10,000
events/s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit

from common import free_port, prepare_database, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from mktops.sqlite import SQLITE_PRAGMAS  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
NAMES = [("App Opened", "MOE_APP_OPENED"), ("Product Viewed", "PRODUCT_VIEWED"),
         ("Added To Cart", "ADD_TO_CART"), ("Purchase", "PURCHASE"), ("Email Opened", "MOE_EMAIL_OPEN")]


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
               LOG_LEVEL="WARNING",
               # static files come from the apps (no collectstatic for a benchmark): not worth a warning per worker
               PYTHONWARNINGS="ignore:No directory at")
    env.pop("REDIS_URL", None)
    return env


def manage(env: dict, *args: str) -> str:
    return subprocess.run([PY, "manage.py", *args], cwd=ROOT, env=env, check=True,
                          capture_output=True, text=True).stdout.strip()


def run_api(events: list[dict], batch: int, env: dict, workers: int) -> float:
    manage(env, "migrate", "-v0")
    manage(env, "create_tenant", "bench", "Bench")
    key = manage(env, "create_api_key", "bench").splitlines()[-1]
    port = free_port()
    server = subprocess.Popen(
        [str(Path(PY).parent / "gunicorn"), "mktops.wsgi", "-b", f"127.0.0.1:{port}", "-w", str(workers),
         "--timeout", "300", "--log-level", "warning"], cwd=ROOT, env=env)
    try:
        wait_for(port, "gunicorn")
        bodies = [json.dumps({"events": events[i:i + batch]}).encode() for i in range(0, len(events), batch)]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        # one keep-alive connection per worker, as a sender with that many requests in flight
        conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=300) for _ in range(workers)]
        for conn in conns:  # warm-up outside the clock (imports, first connection)
            post(conn, headers, json.dumps({"events": []}).encode())
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(lambda n: send(conns[n], headers, bodies[n::workers]), range(workers)))
        return time.perf_counter() - started
    finally:
        server.terminate()
        server.wait(timeout=30)


def send(conn, headers, bodies) -> None:
    for body in bodies:
        answer = post(conn, headers, body)
        if answer.get("rejected"):
            raise SystemExit(f"the API rejected events: {answer['rejected'][:3]}")


def post(conn, headers, body) -> dict:
    conn.request("POST", "/api/v1/events", body=body, headers=headers)
    response = conn.getresponse()
    payload = response.read()
    if response.status != 200:
        raise SystemExit(f"HTTP {response.status}: {payload[:300]!r}")
    return json.loads(payload)


COLUMNS = ("tenant_id", "contact_id", "seq", "uid", "event_type", "event_code", "event_name", "event_uuid",
           "event_time", "event_source", "event_attributes", "user_attributes", "device_attributes",
           "email_id", "mobile_number", "push_id", "campaign_id", "received_at")


def floor_rows(events: list[dict]) -> list[tuple]:
    """The rows the API stores for `events`, as a fresh database numbers them: a
    contact id per uid in order of first appearance (its index is written at as
    many places as the API's is), seq from 1."""
    now = datetime.now(tz=UTC)
    contact_ids: dict[str, int] = {}
    for e in events:
        contact_ids.setdefault(e["uid"], len(contact_ids) + 1)
    return [
        (1, contact_ids[e["uid"]], i, e["uid"], e["event_type"], e["event_code"], e["event_name"], e["event_uuid"],
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
    for pragma in SQLITE_PRAGMAS:  # the settings the application's connections have
        conn.execute(f"PRAGMA {pragma}")
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
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="gunicorn workers and requests in flight, one connection each "
                             "(default: one per core, as deployed)")
    parser.add_argument("--rounds", type=int, default=3, help="alternated rounds, best of each (default 3)")
    args = parser.parse_args()
    for name in ("events", "batch", "workers", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1")
    configured = os.environ.get("DATABASE_URL", "sqlite:///")
    engine = "SQLite" if configured.startswith("sqlite") else "PostgreSQL"
    events = make_events(args.events)
    print(f"database: {engine}; {args.events} events in batches of {args.batch}; "
          f"best of {args.rounds} alternated rounds, each on a fresh database")
    api_seconds, floor_seconds = [], []
    for number in range(1, args.rounds + 1):
        url = prepare_database(configured, "bench")
        api_seconds.append(run_api(events, args.batch, bench_env(url), args.workers))
        floor_seconds.append(run_floor(events, url))
        print(f"  round {number}: api {args.events / api_seconds[-1]:8.0f} events/s, "
              f"floor {args.events / floor_seconds[-1]:8.0f} events/s", flush=True)
    api_rate, floor_rate = args.events / min(api_seconds), args.events / min(floor_seconds)
    floor_means = "executemany in one transaction" if engine == "SQLite" else "COPY"
    print(f"api:   {api_rate:10.0f} events/s  (HTTP API, gunicorn {args.workers} worker(s), {min(api_seconds):.1f} s)")
    print(f"floor: {floor_rate:10.0f} events/s  ({floor_means}, same rows and indexes, {min(floor_seconds):.1f} s)")
    print(f"target: ratio >= 0.3{', and >= 10000 events/s' if engine == 'PostgreSQL' else ''}")
    print(f"ratio: {api_rate / floor_rate:.2f}")


if __name__ == "__main__":
    main()
