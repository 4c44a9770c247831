"""Delivery analysis benchmark: N targets against M quarantine entries, through the analysis
service, next to the floor.

    .venv/bin/python bench/analysis.py [--targets 1000000] [--entries 200000] [--rounds 2]

Uses the configured DATABASE_URL (a fresh `<name>_analysis` database on PostgreSQL, a temporary
file on SQLite). The data: M email entries of one tenant (70 % quarantined, 10 % on denylist,
10 % allowlisted, 10 % valid), and 2 % of the targets' contacts on the email blocklist; one
target in five has an address quarantine knows.

- service: `quarantine.analysis.delivery_analyse` over a generator of the N targets (normalising
  each address, the matching, the answer, the exclusion log and the delivery's counts; for N this
  large the service reads the channel's lists into memory and matches there, see
  quarantine/analysis.py);
- floor: the same targets through plain DB-API (sqlite3 / psycopg, no Django, addresses taken
  as given, not normalised) loaded into a temporary table (executemany / COPY) and one SQL
  statement joining it to the entries and the blocklist that returns the excluded rows (the rest,
  to be sent, is its anti-join); "floor + log" also writes those rows into a copy of the
  exclusion log, as the service must.

Rounds alternate service and floor (the machine is shared; the best of each is kept). Memory:
the service alone in a fresh process for N/4 and N targets, peak RSS and tracemalloc's peak, next
to the size of the answer itself (what tracemalloc still holds once the analysis has returned).
The last line is the ratio service / floor (target: at most 1.5).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

BLOCKLIST_EVERY = 50  # target i with i % 50 == 1: its contact opted out of email
KNOWN_EVERY = 5       # target i with i % 5 == 0: an address quarantine knows


def entry_address(j: int) -> str:
    return f"known{j}@example.com"


def targets(n: int, entries: int):
    """(uid, address) of n targets, generated: the input is not part of the memory measured."""
    for i in range(n):
        address = entry_address((i // KNOWN_EVERY) % entries) if i % KNOWN_EVERY == 0 else f"t{i}@example.com"
        yield f"u{i}", address


def bench_env(database_url: str) -> dict:
    env = dict(os.environ)
    env.update(DATABASE_URL=database_url, DEBUG="0", SECRET_KEY="bench-" + "k" * 50,
               MKTOPS_FIELD_KEYS="q1R0bVwE7dAm6m0c9oWJ8sJq1m2nJ4y6fQyb0c9S3JI=", ALLOWED_HOSTS="127.0.0.1",
               LOG_LEVEL="WARNING", DJANGO_SETTINGS_MODULE="mktops.settings")
    env.pop("REDIS_URL", None)
    return env


def django_setup():
    import django

    django.setup()


# --- phases, each run in its own process ------------------------------------------------------
def phase_setup(entries: int, n: int) -> None:
    django_setup()
    from django.core.management import call_command
    from django.db import transaction

    from mktops import clock, services
    from mktops.models import Contact
    from quarantine.models import BlocklistEntry, QuarantineEntry

    call_command("migrate", verbosity=0)
    tenant = services.tenant_create(slug="bench", name="Bench")
    statuses = ["quarantined"] * 7 + ["denylisted", "allowlisted", "valid"]
    now = clock.now()
    with transaction.atomic():
        for start in range(0, entries, 10_000):
            QuarantineEntry.objects.bulk_create([
                QuarantineEntry(tenant=tenant, channel="email", address=entry_address(j), status=statuses[j % 10],
                                error_type="hard", error_reason="unknown_user", error_count=1,
                                domain="example.com", last_error_at=now)
                for j in range(start, min(entries, start + 10_000))], batch_size=2000)
        uids = [f"u{i}" for i in range(1, n, BLOCKLIST_EVERY)]
        contacts = Contact.objects.bulk_create([Contact(tenant=tenant, uid=uid) for uid in uids], batch_size=2000)
        if not all(c.pk for c in contacts):  # SQLite before 3.35 gives no ids back
            contacts = list(Contact.objects.filter(tenant=tenant))
        BlocklistEntry.objects.bulk_create([
            BlocklistEntry(tenant=tenant, contact=c, uid=c.uid, channel="email", created_at=now) for c in contacts],
            batch_size=2000)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    print(json.dumps({"tenant": tenant.pk}))


def phase_service(n: int, entries: int, tenant_id: int, label: str, trace: bool) -> None:
    django_setup()
    import gc
    import tracemalloc

    from mktops.models import Tenant
    from quarantine.analysis import delivery_analyse

    tenant = Tenant.objects.get(pk=tenant_id)
    gc.collect()
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    outcome = delivery_analyse(tenant=tenant, delivery_id=f"bench-{label}", channel="email",
                               targets=targets(n, entries))
    seconds = time.perf_counter() - started
    result = {"seconds": seconds, "excluded": len(outcome.excluded), "to_send": outcome.to_send,
              "counts": outcome.counts, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if trace:
        gc.collect()
        current, peak = tracemalloc.get_traced_memory()
        result.update(trace_peak_mb=peak / 2**20, answer_mb=current / 2**20)
    print(json.dumps(result))


def phase_normalise(n: int, entries: int) -> None:
    """quarantine.addresses.normalise over the targets alone: the work the service does that the
    SQL floor does not."""
    django_setup()
    from quarantine.addresses import normalise

    started = time.perf_counter()
    for _, address in targets(n, entries):
        normalise("email", address)
    print(json.dumps({"seconds": time.perf_counter() - started}))


def phase_floor(n: int, entries: int, tenant_id: int, with_log: bool) -> None:
    url = os.environ["DATABASE_URL"]
    statuses = ("quarantined", "denylisted")
    started = time.perf_counter()
    if url.startswith("sqlite"):
        import sqlite3

        from mktops.sqlite import SQLITE_PRAGMAS

        conn = sqlite3.connect(urlsplit(url).path, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("CREATE TEMP TABLE t (i integer, uid text, address text)")
        conn.executemany("INSERT INTO t VALUES (?, ?, ?)",
                         ((i, uid, address) for i, (uid, address) in enumerate(targets(n, entries))))
        rows = conn.execute(_FLOOR_SQL.replace("%s", "?"), [tenant_id, tenant_id, *statuses]).fetchall()
        if with_log:
            conn.executemany(
                "INSERT INTO quarantine_deliveryexclusion (delivery_id, tenant_id, uid, address, reason, analysed_at) "
                "VALUES (?, ?, ?, ?, ?, ?)", ((1, tenant_id, r[1], r[2], r[3], "2026-01-01 00:00:00") for r in rows))
        conn.execute("ROLLBACK" if with_log else "COMMIT")
    else:
        import psycopg

        with psycopg.connect(url) as conn, conn.cursor() as cur:
            cur.execute("CREATE TEMP TABLE t (i integer, uid text, address text)")
            with cur.copy("COPY t (i, uid, address) FROM STDIN") as copy:
                batch = []
                for i, (uid, address) in enumerate(targets(n, entries)):
                    batch.append(f"{i}\t{uid}\t{address}\n")
                    if len(batch) == 10_000:
                        copy.write("".join(batch))
                        batch = []
                copy.write("".join(batch))
            cur.execute("ANALYZE t")
            cur.execute(_FLOOR_SQL, [tenant_id, tenant_id, *statuses])
            rows = cur.fetchall()
            if with_log:
                with cur.copy("COPY quarantine_deliveryexclusion (delivery_id, tenant_id, uid, address, reason, "
                              "analysed_at) FROM STDIN") as copy:
                    for start in range(0, len(rows), 10_000):
                        copy.write("".join(f"1\t{tenant_id}\t{r[1]}\t{r[2]}\t{r[3]}\t2026-01-01T00:00:00+00:00\n"
                                           for r in rows[start:start + 10_000]))
            conn.rollback()
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "excluded": len(rows), "to_send": n - len(rows)}))


# the excluded rows: its complement (to be sent) is the anti-join of the targets with both tables
_FLOOR_SQL = """
SELECT t.i, t.uid, t.address, CASE WHEN b.uid IS NOT NULL THEN 'blocklisted' ELSE e.status END
FROM t
LEFT JOIN quarantine_blocklistentry b ON b.tenant_id = %s AND b.channel = 'email' AND b.uid = t.uid
LEFT JOIN quarantine_quarantineentry e ON e.tenant_id = %s AND e.channel = 'email' AND e.address = t.address
     AND e.status IN (%s, %s)
WHERE b.uid IS NOT NULL OR e.address IS NOT NULL
"""


# --- the driver ---------------------------------------------------------------------------------
def run(env: dict, *args: str) -> dict:
    out = subprocess.run([sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False)
    if out.returncode:
        raise SystemExit(f"phase {args[:2]} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--targets", type=int, default=1_000_000)
    parser.add_argument("--entries", type=int, default=200_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--phase", default="")
    parser.add_argument("--tenant", type=int, default=0)
    parser.add_argument("--label", default="")
    parser.add_argument("--trace", action="store_true")
    parser.add_argument("--with-log", action="store_true")
    args = parser.parse_args()
    if args.phase == "setup":
        return phase_setup(args.entries, args.targets)
    if args.phase == "service":
        return phase_service(args.targets, args.entries, args.tenant, args.label, args.trace)
    if args.phase == "floor":
        return phase_floor(args.targets, args.entries, args.tenant, args.with_log)
    if args.phase == "normalise":
        return phase_normalise(args.targets, args.entries)

    from common import prepare_database

    base = os.environ.get("DATABASE_URL", f"sqlite:///{ROOT / 'mktops.sqlite3'}")
    url = prepare_database(base, "analysis")
    env = bench_env(url)
    vendor = "SQLite" if url.startswith("sqlite") else "PostgreSQL"
    n, m = str(args.targets), str(args.entries)
    print(f"{vendor}: {args.targets:,} targets against {args.entries:,} entries "
          "(2 cores shared with other work: figures are noisy)")
    tenant = str(run(env, "--phase", "setup", "--targets", n, "--entries", m)["tenant"])
    service, floor, floor_log = [], [], []
    for r in range(args.rounds):
        service.append(run(env, "--phase", "service", "--targets", n, "--entries", m, "--tenant", tenant,
                           "--label", f"r{r}"))
        floor.append(run(env, "--phase", "floor", "--targets", n, "--entries", m, "--tenant", tenant))
        floor_log.append(run(env, "--phase", "floor", "--targets", n, "--entries", m, "--tenant", tenant,
                             "--with-log"))
        print(f"  round {r + 1}: service {service[-1]['seconds']:.2f} s, floor {floor[-1]['seconds']:.2f} s, "
              f"floor + log {floor_log[-1]['seconds']:.2f} s")
    best = min(service, key=lambda x: x["seconds"])
    best_floor = min(f["seconds"] for f in floor)
    best_floor_log = min(f["seconds"] for f in floor_log)
    assert best["excluded"] == floor[0]["excluded"], (best, floor[0])
    print(f"answer: {best['excluded']:,} excluded {best['counts']}, {best['to_send']:,} to send "
          f"(the floor agrees: {floor[0]['excluded']:,} excluded)")
    print(f"service        {best['seconds']:.2f} s  ({args.targets / best['seconds']:,.0f} targets/s)")
    print(f"floor          {best_floor:.2f} s  (load + one join)")
    print(f"floor + log    {best_floor_log:.2f} s  (load + one join + the exclusion rows written)")
    normalising = run(env, "--phase", "normalise", "--targets", n, "--entries", m)["seconds"]
    print(f"normalising    {normalising:.2f} s  (quarantine.addresses.normalise over the targets, alone: "
          "in the service, not in the floor)")
    quarter = str(args.targets // 4)
    for count in (quarter, n):
        # RSS from a run without tracemalloc, whose own records of each live block would count in it
        plain = run(env, "--phase", "service", "--targets", count, "--entries", m, "--tenant", tenant,
                    "--label", f"rss{count}")
        mem = run(env, "--phase", "service", "--targets", count, "--entries", m, "--tenant", tenant,
                  "--label", f"mem{count}", "--trace")
        print(f"memory, {int(count):>9,} targets: peak RSS {plain['rss_mb']:.0f} MB, tracemalloc peak "
              f"{mem['trace_peak_mb']:.1f} MB, of which the answer {mem['answer_mb']:.1f} MB "
              f"({mem['excluded']:,} excluded): {mem['trace_peak_mb'] - mem['answer_mb']:.1f} MB beyond it")
    print(f"ratio service / floor + log: {best['seconds'] / best_floor_log:.2f}")
    print(f"ratio service / floor: {best['seconds'] / best_floor:.2f} (target: at most 1.5)")


if __name__ == "__main__":
    main()
