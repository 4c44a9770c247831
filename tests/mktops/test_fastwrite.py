"""The plain-SQL helpers of the ingest hot path."""

import orjson
import pytest
from django.db import connection

from mktops.fastwrite import array_literal

NASTY = ['plain', '', 'with "quotes"', "back\\slash", "tail\\", '{braces},commas', "NULL", " spaced ", "Zoë 用户 😀",
         '{"json": "\\"x\\""}', "new\nline\ttab", "cr\r\nlf", "\\N", "a\\tb", "\t"]


def test_array_literal_quotes_every_element():
    assert array_literal(["a", 'b"c', "d\\e"]) == '{"a","b\\"c","d\\\\e"}'
    assert array_literal([1, 22]) == "{1,22}"
    assert array_literal([]) == "{}"


def test_array_literal_round_trips_through_the_database(db):
    if connection.vendor != "postgresql":
        # SQLite has no arrays; the literal's text is what the test above pins
        assert array_literal(NASTY).count('"') >= 2 * len(NASTY)
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::text[]", [array_literal(NASTY)])
        assert cursor.fetchone()[0] == NASTY
        cursor.execute("SELECT %s::jsonb[]", [array_literal(['{"a": "x\\"y"}', "[1, 2]"])])
        assert [orjson.loads(v) if isinstance(v, str) else v for v in cursor.fetchone()[0]] == [{"a": 'x"y'}, [1, 2]]


def test_load_contacts_takes_more_uids_than_one_statement_may_hold(tenant_a):
    from mktops.fastwrite import load_contacts
    from mktops.models import Contact

    Contact.objects.create(tenant=tenant_a, uid="first", attributes={"a": 1})
    Contact.objects.create(tenant=tenant_a, uid="last", email="l@example.com")
    uids = ["first", *(f"nobody-{i}" for i in range(40_000)), "last"]
    found = load_contacts(tenant_a.pk, uids)
    assert set(found) == {"first", "last"}
    assert found["first"].attributes == {"a": 1} and found["last"].email == "l@example.com"


def test_events_written_by_fastwrite_read_back_as_the_orm_wrote_them(tenant_a):
    """Times (with and without microseconds, from another zone) and JSON come back unchanged."""
    from datetime import UTC, datetime, timedelta, timezone

    from django.db import transaction

    from mktops.fastwrite import insert_events, sqlite_datetime
    from mktops.models import Contact, Event

    contact = Contact.objects.create(tenant=tenant_a, uid="u")
    berlin = timezone(timedelta(hours=1))
    times = [datetime(2026, 11, 23, 12, 0, tzinfo=UTC), datetime(2026, 11, 23, 12, 0, 0, 123456, tzinfo=UTC),
             datetime(2026, 11, 23, 13, 30, 5, 7, tzinfo=berlin)]
    for time in times:  # the text is Django's own, so its lookups match what is stored
        assert sqlite_datetime(time) == connection.ops.adapt_datetimefield_value(time) or \
            connection.vendor == "postgresql"
    with transaction.atomic():
        insert_events([
            (tenant_a.pk, contact.pk, seq, "u", "USER_ACTION_EVENT", "C", "Name", f"uuid-{seq}", time, "API",
             {"campaign_id": "c", "nested": {"x": [1, "ü"]}}, {}, {"platform": "ios"}, "", "", "", "c", time)
            for seq, time in enumerate(times, start=1)])
    stored = list(Event.objects.filter(tenant=tenant_a).order_by("seq"))
    assert [e.event_time for e in stored] == times and [e.received_at for e in stored] == times
    assert stored[0].event_attributes == {"campaign_id": "c", "nested": {"x": [1, "ü"]}}
    assert Event.objects.filter(tenant=tenant_a, event_time__gte=times[1]).count() == 2


def test_any_text_survives_the_insert_unchanged(tenant_a):
    """Tabs, newlines, backslashes and quotes in text and JSON (COPY's text format escapes them)."""
    from datetime import UTC, datetime

    from django.db import transaction

    from mktops.fastwrite import insert_events
    from mktops.models import Contact, Event

    contact = Contact.objects.create(tenant=tenant_a, uid="u")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with transaction.atomic():
        insert_events([
            (tenant_a.pk, contact.pk, seq, text, "USER_ACTION_EVENT", "C", text, f"uuid-{seq}", now, "API",
             {"value": text, text: [text]}, {}, {}, "", "", text, text[:128], now)
            for seq, text in enumerate(NASTY, start=1)])
    stored = list(Event.objects.filter(tenant=tenant_a).order_by("seq"))
    assert [e.uid for e in stored] == NASTY and [e.event_name for e in stored] == NASTY
    assert [e.push_id for e in stored] == NASTY
    assert [e.event_attributes for e in stored] == [{"value": t, t: [t]} for t in NASTY]


def test_insert_events_returns_the_ids_the_database_gave(tenant_a):
    """In the order given, also after the newest rows were deleted (their ids are not used again)."""
    from datetime import UTC, datetime

    from django.db import transaction

    from mktops.fastwrite import insert_events
    from mktops.models import Contact, Event

    contact = Contact.objects.create(tenant=tenant_a, uid="u")
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)

    def insert(seqs):
        with transaction.atomic():
            return insert_events([(tenant_a.pk, contact.pk, seq, "u", "USER_ACTION_EVENT", "C", "N", f"uuid-{seq}",
                                   now, "API", {}, {}, {}, "", "", "", "", now) for seq in seqs])

    first = insert(range(1, 6))
    Event.objects.filter(seq__gte=4).delete()
    second = insert(range(6, 9))
    assert dict(Event.objects.values_list("seq", "id")) == dict(zip([1, 2, 3, 6, 7, 8], first[:3] + second,
                                                                    strict=True))
    assert min(second) > max(first) and insert([]) == []


def test_ingest_writers_of_several_processes_take_turns(db):
    """On SQLite a second process waits on the lock file until the first is done; PostgreSQL needs no turn."""
    import select
    import subprocess
    import sys

    from mktops.fastwrite import writer_turn

    if connection.vendor == "postgresql":
        with writer_turn():
            return
    lock = f"{connection.settings_dict['NAME']}-ingest.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl, os, sys, time\n"
         f"fd = os.open({lock!r}, os.O_RDWR | os.O_CREAT); fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True); time.sleep(0.5)\n"
         "print('done', flush=True); fcntl.flock(fd, fcntl.LOCK_UN); time.sleep(30)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with writer_turn():
            # our turn came only after the other process had said it was done
            assert select.select([holder.stdout], [], [], 0)[0]
            assert holder.stdout.readline() == "done\n"
    finally:
        holder.kill()
        holder.wait()


def _show_synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
def test_a_batch_frees_its_lock_before_the_disk_flush_and_returns_after_it():
    """PostgreSQL: the batch's commit does not wait for the disk (the tenant's
    lock is free sooner), and batch_transaction returns only once the log is
    flushed past everything the batch wrote. SQLite: it is the writer's turn."""
    from mktops import fastwrite
    from mktops.models import Tenant

    if connection.vendor != "postgresql":
        with fastwrite.batch_transaction():
            Tenant.objects.create(slug="flush", name="Flush", db_name="flush")
            assert connection.in_atomic_block
            # the turn: the lock file beside the database, and the process's own lock with it
            assert fastwrite._turn_in_process.locked()
        assert not fastwrite._turn_in_process.locked()
        assert Tenant.objects.filter(slug="flush").exists()
        return
    with fastwrite.batch_transaction():
        assert _show_synchronous_commit() == "off"
        Tenant.objects.create(slug="flush", name="Flush", db_name="flush")
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()")
            written = cursor.fetchone()[0]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_wal_flush_lsn() >= %s::pg_lsn", [written])
        assert cursor.fetchone()[0] is True
    assert _show_synchronous_commit() == "on"  # SET LOCAL ended with the transaction
    assert Tenant.objects.filter(slug="flush").exists()


def test_inside_a_callers_transaction_the_commit_is_the_callers(db):
    from django.db import transaction

    from mktops import fastwrite

    with transaction.atomic(), fastwrite.batch_transaction():
        if connection.vendor == "postgresql":
            # the caller commits, maybe after more work: its commit waits for the disk as usual
            assert _show_synchronous_commit() == "on"
        assert connection.in_atomic_block


def test_array_literal_writes_null_times_and_booleans(db):
    from datetime import UTC, datetime

    when = datetime(2026, 12, 2, 5, 6, 7, 890123, tzinfo=UTC)
    assert array_literal([None, 3, "NULL"]) == '{NULL,3,"NULL"}'
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::timestamptz[], %s::boolean[], %s::text[]",
                       [array_literal([when, None]), array_literal([True, False]), array_literal(["NULL", None])])
        assert cursor.fetchone() == ([when, None], [True, False], ["NULL", None])


def test_one_of_finds_what_in_finds_with_one_parameter(tenant_a, tenant_b):
    """`pk__one_of` selects like `pk__in`, for integer and text keys, past SQLite's placeholder
    limit, and with an empty list; the statement holds one parameter, not one per value."""
    from django.test.utils import CaptureQueriesContext

    from mktops.models import Tenant, WorkerHeartbeat

    WorkerHeartbeat.objects.create(owner='host:1 "x"\\', seen_at="2026-12-02T00:00:00Z")
    WorkerHeartbeat.objects.create(owner="host:2", seen_at="2026-12-02T00:00:00Z")
    ids = [tenant_b.pk, *range(10**9, 10**9 + 40_000)]
    with CaptureQueriesContext(connection) as queries:
        assert list(Tenant.objects.filter(pk__one_of=ids).values_list("pk", flat=True)) == [tenant_b.pk]
    sql = queries.captured_queries[0]["sql"]
    assert ("= ANY(" if connection.vendor == "postgresql" else "json_each(") in sql and " IN (%s" not in sql
    assert not Tenant.objects.filter(pk__one_of=[]).exists()
    owners = WorkerHeartbeat.objects.filter(owner__one_of=['host:1 "x"\\', "nobody"])
    assert list(owners.values_list("owner", flat=True)) == ['host:1 "x"\\']
    assert Tenant.objects.filter(pk__one_of=[tenant_a.pk, tenant_b.pk]).count() == 2
