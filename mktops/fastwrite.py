"""The ingestion hot path's event insert, in plain SQL.

Django's bulk_create prepares every value of every row through the field
machinery and, on SQLite, splits a batch into ~50-row statements; for the
events table that costs several times the write itself. Here the rows are
written the fastest plain way each database offers: COPY on PostgreSQL,
one executemany on SQLite, inside the caller's transaction. The values are
the same Django would write (JSON as text, datetimes as the backend takes them).
The other hot paths share its helpers: the `one_of` lookup and `one_of_sql` (a list
of values as one parameter) and `array_literal`.
"""

from __future__ import annotations

import fcntl
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson
from django.db import connection, models, transaction

from mktops import clock
from mktops.models import Event

EVENT_COLUMNS = (
    "tenant_id", "contact_id", "seq", "uid", "event_type", "event_code", "event_name", "event_uuid",
    "event_time", "event_source", "event_attributes", "user_attributes", "device_attributes",
    "email_id", "mobile_number", "push_id", "campaign_id", "received_at",
)
# an event row is (tenant_id, contact_id, seq) + its tail: the columns from
# `uid` on, which ingestion encodes before it takes the write lock
TAIL_COLUMNS = EVENT_COLUMNS[3:]
_TAIL_JSON = tuple(TAIL_COLUMNS.index(c) for c in ("event_attributes", "user_attributes", "device_attributes"))
_TAIL_TIMES = tuple(TAIL_COLUMNS.index(c) for c in ("event_time", "received_at"))
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def sqlite_datetime(value: datetime) -> str:
    """An aware datetime as Django stores it on SQLite (naive UTC text).

    Django's adapt_datetimefield_value does the same with settings lookups per
    value; on a thousand-row batch that was a tenth of the insert."""
    if value.tzinfo is UTC:
        return value.isoformat(" ")[:-6]  # without "+00:00"
    return str(value.astimezone(UTC).replace(tzinfo=None))


def tail_encoder():
    """The function that turns an event's tail (TAIL_COLUMNS: JSON as Python
    objects, aware datetimes) into what this database's insert takes: for
    SQLite's executemany a tuple with JSON and times as Django stores them;
    for PostgreSQL's COPY the text of the row's tail, so that under the lock
    only the head is added to it. Chosen once per batch: looking the database
    up through Django's connection proxy cost more than encoding a row."""
    return _postgres_tail if connection.vendor == "postgresql" else _sqlite_tail


def _sqlite_tail(values: tuple | list) -> tuple:
    values = list(values)
    for i in _TAIL_JSON:
        values[i] = orjson.dumps(values[i]).decode()
    for i in _TAIL_TIMES:
        values[i] = sqlite_datetime(values[i])
    return tuple(values)


def _postgres_tail(values: tuple | list) -> str:
    values = list(values)
    for i in _TAIL_JSON:
        values[i] = orjson.dumps(values[i]).decode()
    for i in _TAIL_TIMES:
        values[i] = values[i].isoformat()
    return _copy_text(values)


def _copy_text(values: list[str]) -> str:
    """Text values as tab-separated COPY text: backslash, tab, newline and CR escaped."""
    line = "\t".join(values)
    # the common case, nothing to escape, costs one pass in C
    if line.count("\t") == len(values) - 1 and not any(c in line for c in "\\\n\r"):
        return line
    return "\t".join(v.translate(_COPY_ESCAPES) for v in values)


def insert_events(rows: list[tuple]) -> list[int]:
    """Insert event rows given as tuples in EVENT_COLUMNS order (JSON values as Python objects);
    returns their ids in the order given."""
    encode = tail_encoder()
    return insert_tails([(row[0], row[1], row[2], encode(row[3:])) for row in rows])


def insert_tails(rows: list[tuple]) -> list[int]:
    """Insert event rows given as (tenant_id, contact_id, seq, tail encoded by tail_encoder()),
    all of one tenant with ascending seq; returns their ids in the order given."""
    if not rows:
        return []
    table = Event._meta.db_table
    if connection.vendor == "postgresql":
        return _copy_postgres(table, rows)
    return _executemany(table, [(tenant, contact, seq, *tail) for tenant, contact, seq, tail in rows])


def _copy_postgres(table: str, rows: list[tuple]) -> list[int]:
    # COPY returns nothing, so the ids are drawn from the key's own sequence
    # first and written with the rows: reading them back by seq afterwards
    # cost a query as long as a tenth of the COPY, under the tenant's lock
    with connection.cursor() as cursor:
        cursor.execute("SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                       [table, len(rows)])
        ids = [row[0] for row in cursor.fetchall()]
        data = "".join(f"{pk}\t{tenant}\t{contact}\t{seq}\t{tail}\n"
                       for pk, (tenant, contact, seq, tail) in zip(ids, rows, strict=True))
        # the raw psycopg cursor (in Django's transaction); its errors wrapped as
        # Django's, so a duplicate surfaces as IntegrityError like on SQLite
        with (connection.wrap_database_errors,
              cursor.cursor.copy(f"COPY {table} (id, {', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy):
            copy.write(data.encode())
    return ids


def _executemany(table: str, rows: list[tuple]) -> list[int]:
    marks = ", ".join(["%s"] * len(EVENT_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed names
            rows,
        )
        return _inserted_ids(cursor, len(rows))


def _inserted_ids(cursor, count: int) -> list[int]:
    """The ids SQLite gave the `count` rows of the executemany just run.

    One statement of the only writer (SQLite lets one in at a time), on an
    AUTOINCREMENT key: its rows took consecutive ids ending at the last one.
    Reading them back cost as much as a tenth of the insert."""
    cursor.execute("SELECT last_insert_rowid()")
    last = cursor.fetchone()[0]
    return list(range(last - count + 1, last + 1))


_lock_files: dict[str, int] = {}
_turn_in_process = threading.Lock()


@contextmanager
def writer_turn():
    """On SQLite, waits for this request's turn to write in a kernel queue.

    SQLite lets one writer in at a time; the others poll with growing sleeps
    (up to 100 ms) and wake late. Ingest requests queue on a lock file beside
    the database instead, and the kernel wakes the next one the moment the
    previous one is done (the thread lock first: threads of one process share
    the file's lock). Other writers (workers, the admin) still wait in SQLite's
    own way, so this only orders ingestion among itself; SQLite's lock remains
    what keeps the database consistent."""
    if connection.vendor == "postgresql":
        yield
        return
    name = str(connection.settings_dict["NAME"])
    if name == ":memory:" or name.startswith("file:"):  # no file beside it; one process anyway
        with _turn_in_process:
            yield
        return
    path = f"{name}-ingest.lock"
    with _turn_in_process:
        fd = _lock_files.get(path)
        if fd is None:
            fd = _lock_files[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)


@contextmanager
def batch_transaction():
    """The writer's turn and the transaction of one ingest batch.

    On PostgreSQL, when the batch's transaction is its own (not part of a
    caller's), the commit does not wait for the log to reach the disk, so the
    tenant's counter row is free for the next batch the moment the commit is
    written; the flush is then awaited after it, before the caller answers:
    a synchronous commit flushes the whole log up to its own record, the
    batch's commit included. Nothing is answered before it is durable.
    Those who read the batch between the two steps (the next batch, an
    export run choosing its range) are covered the same way: the log is
    flushed in order, so their own synchronous commit makes what they read
    durable first."""
    early = connection.vendor == "postgresql" and not connection.in_atomic_block
    with writer_turn(), transaction.atomic():
        if early:
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
    if early:
        wait_until_durable()


def wait_until_durable() -> None:
    """PostgreSQL: returns once every commit made so far is on disk.

    A synchronous commit flushes the log up to its own record, but only a
    transaction that wrote to the log waits for that (one that merely took
    a transaction id does not). A transactional logical-decoding message is
    the smallest such write any role may make: a few bytes, no table, no
    lock; logical-decoding consumers, if any, see it under the prefix
    "mktops.flush"."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_logical_emit_message(true, 'mktops.flush', '')")


@dataclass(slots=True)
class ContactRow:
    """A contact as ingestion needs it: model instances cost more than the query."""

    pk: int | None
    uid: str
    email: str = ""
    mobile_number: str = ""
    attributes: dict = field(default_factory=dict)


def array_literal(values) -> str:
    """A PostgreSQL array literal ('{"a","b"}') for a `%s::<type>[]` parameter: numbers as they
    are, None as NULL, anything else as its text (a datetime in ISO form), double-quoted.

    Django's client-side binding would quote a Python list element by element
    in Python (a fifth of an ingest request for the contact arrays); one string
    is quoted once, in C. Inside double quotes only `"` and `\\` need escaping."""
    return "{" + ",".join(map(_array_element, values)) + "}"


def _array_element(v) -> str:
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if v is None:
        return "NULL"
    if isinstance(v, int | float) and not isinstance(v, bool):
        return str(v)
    return _array_element(v.isoformat() if isinstance(v, datetime) else str(v))


def one_of_sql(column: str, values: list, db_type: str = "text") -> tuple[str, str]:
    """(SQL condition, its one parameter) for `column` (of `db_type` on PostgreSQL) being one of
    `values`: an array on PostgreSQL, a JSON list on SQLite. One parameter, not a placeholder
    per value: no limit on their number (SQLite allows at most 32,766) and no statement text
    to build per batch."""
    if connection.vendor == "postgresql":
        return f"{column} = ANY(%s::{db_type}[])", array_literal(values)
    return f"{column} IN (SELECT value FROM json_each(%s))", orjson.dumps(values).decode()  # noqa: S608 - fixed names


class OneOf(models.Lookup):
    """`.filter(pk__one_of=ids)`: the field is one of `ids`, given as one parameter (an array on
    PostgreSQL, `= ANY`, planned as index lookups; a JSON list on SQLite). Django's `__in=[...]`
    writes a placeholder per value, which psycopg scans in Python and the server parses at every
    call: at 500 ids a delivery batch's claim cost more than sending it. (`IN (SELECT unnest(..))`
    is no substitute: PostgreSQL guesses its size and may join it in a nested loop.)
    Registered on every field by mktops' AppConfig."""

    lookup_name = "one_of"
    prepare_rhs = False

    def get_prep_lookup(self):
        return [self.lhs.output_field.get_prep_value(v) for v in self.rhs]

    def as_sql(self, compiler, connection):
        lhs, params = self.process_lhs(compiler, connection)
        condition, values = one_of_sql(lhs, self.rhs, self.lhs.output_field.rel_db_type(connection))
        return condition, [*params, values]


def load_contacts(tenant_id: int, uids: list[str]) -> dict[str, ContactRow]:
    from mktops.models import Contact

    # rows decoded here with orjson, not field by field through the ORM
    attributes = "attributes::text" if connection.vendor == "postgresql" else "attributes"
    condition, param = one_of_sql("uid", uids)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, uid, email, mobile_number, {attributes} FROM {Contact._meta.db_table} "  # noqa: S608
            f"WHERE tenant_id = %s AND {condition}", [tenant_id, param])
        return {row[1]: ContactRow(row[0], row[1], row[2], row[3], orjson.loads(row[4])) for row in cursor.fetchall()}


def existing_uuids(tenant_id: int, uuids: list[str]) -> set[str]:
    condition, param = one_of_sql("event_uuid", uuids)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT event_uuid FROM {Event._meta.db_table} "  # noqa: S608 - fixed names
                       f"WHERE tenant_id = %s AND {condition}", [tenant_id, param])
        return {row[0] for row in cursor.fetchall()}


# --- the catalogues of names (EventName, UserAttributeName): one parameter per statement,
# whatever the number of names (a statement with a placeholder per name failed past
# SQLite's 32,766 and would past PostgreSQL's 65,535)
def stored_names(model, tenant_id: int, names: list[str]) -> set[str]:
    """Those of `names` the tenant's catalogue `model` already holds."""
    condition, param = one_of_sql("name", names)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT name FROM {model._meta.db_table} "  # noqa: S608 - fixed names
                       f"WHERE tenant_id = %s AND {condition}", [tenant_id, param])
        return {row[0] for row in cursor.fetchall()}


def count_names(model, tenant_id: int) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {model._meta.db_table} WHERE tenant_id = %s",  # noqa: S608
                       [tenant_id])
        return cursor.fetchone()[0]


def insert_names(model, tenant_id: int, names: list[str]) -> None:
    """Adds `names` to the tenant's catalogue `model`; a name already there is left alone."""
    table, now = model._meta.db_table, clock.now()
    if connection.vendor == "postgresql":
        source, params = "unnest(%s::text[]) AS s(value)", [tenant_id, now, array_literal(names)]
    else:
        # "WHERE true" keeps SQLite from reading ON CONFLICT as part of the SELECT
        source, params = "json_each(%s) WHERE true", [tenant_id, sqlite_datetime(now), orjson.dumps(names).decode()]
    with connection.cursor() as cursor:
        cursor.execute(f"INSERT INTO {table} (tenant_id, first_seen_at, name) "  # noqa: S608 - fixed names
                       f"SELECT %s, %s, value FROM {source} ON CONFLICT DO NOTHING", params)


def insert_contacts(tenant, contacts: list) -> None:
    """Insert new contacts (final values already applied) and set their pks."""
    from mktops.models import Contact

    now = clock.now()
    table = Contact._meta.db_table
    values = [(c.uid, c.email, c.mobile_number, orjson.dumps(c.attributes).decode()) for c in contacts]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # one statement over arrays instead of a round trip per row
            uids, emails, mobiles, attrs = (array_literal(col) for col in zip(*values, strict=True))
            cursor.execute(
                f"INSERT INTO {table} (tenant_id, uid, email, mobile_number, attributes, created_at, updated_at) "  # noqa: S608
                "SELECT %s, v.uid, v.email, v.mobile, v.attrs, %s, %s "
                "FROM unnest(%s::text[], %s::text[], %s::text[], %s::jsonb[]) AS v(uid, email, mobile, attrs) "
                "RETURNING uid, id",
                [tenant.pk, now, now, uids, emails, mobiles, attrs],
            )
            ids = dict(cursor.fetchall())
        else:
            stamp = connection.ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"INSERT INTO {table} (tenant_id, uid, email, mobile_number, attributes, created_at, updated_at) "  # noqa: S608
                "VALUES (%s, %s, %s, %s, %s, %s, %s)",
                [(tenant.pk, *row, stamp, stamp) for row in values],
            )
            ids = dict(zip((c.uid for c in contacts), _inserted_ids(cursor, len(contacts)), strict=True))
    for c in contacts:
        c.pk = ids[c.uid]


def update_contacts(renamed: list[ContactRow], reattributed: list[ContactRow]) -> None:
    """Write changed contacts: `renamed` have a new email or mobile number (and
    maybe attributes), `reattributed` only new attributes.

    On SQLite the two are written apart: naming a column in SET rewrites its
    index entries even when the value is the same, which doubled the cost of
    an attributes-only update. PostgreSQL compares the values itself (an
    unchanged indexed value leaves its index alone): one statement writes all."""
    from mktops.models import Contact

    now = clock.now()
    table = Contact._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            rows = [(c.pk, c.email, c.mobile_number, orjson.dumps(c.attributes).decode())
                    for c in (*renamed, *reattributed)]
            ids, emails, mobiles, attrs = (array_literal(col) for col in zip(*rows, strict=True))
            cursor.execute(
                f"UPDATE {table} AS c SET email = v.email, mobile_number = v.mobile, attributes = v.attrs, "  # noqa: S608
                "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::jsonb[]) "
                "AS v(id, email, mobile, attrs) WHERE c.id = v.id",
                [now, ids, emails, mobiles, attrs],
            )
            return
        stamp = connection.ops.adapt_datetimefield_value(now)
        if renamed:
            cursor.executemany(
                f"UPDATE {table} SET email = %s, mobile_number = %s, attributes = %s, updated_at = %s "  # noqa: S608
                "WHERE id = %s",
                [(c.email, c.mobile_number, orjson.dumps(c.attributes).decode(), stamp, c.pk) for c in renamed],
            )
        if reattributed:
            cursor.executemany(
                f"UPDATE {table} SET attributes = %s, updated_at = %s WHERE id = %s",  # noqa: S608
                [(orjson.dumps(c.attributes).decode(), stamp, c.pk) for c in reattributed],
            )


# --- INSERT … SELECT: rows of a feature's model made inside the database ----------------
def column_default(model_field, now) -> tuple[str, list]:
    """A column left to its model's default, as SQL and parameters: what `Model()` would hold.
    Timestamps set on save (auto_now, auto_now_add) get `now`."""
    if getattr(model_field, "auto_now", False) or getattr(model_field, "auto_now_add", False):
        return "%s", [connection.ops.adapt_datetimefield_value(now)]
    if not model_field.has_default() and not model_field.null and not model_field.empty_strings_allowed:
        raise ValueError(f"{model_field.model.__name__}.{model_field.name} has no default: give it in `select`.")
    return "%s", [model_field.get_db_prep_save(model_field.get_default(), connection)]


def insert_select(*, model, select: dict[str, tuple[str, list]], source: str, source_params: list, now,
                  returning: str) -> list[tuple]:
    """One `INSERT INTO <model's table> (…) SELECT … FROM (<source>) s … ON CONFLICT DO NOTHING`.

    `select` maps a field's attname to its SQL over the source rows `s` (with parameters);
    every other concrete column of the model (the Job columns too) gets its model default, so
    a field added to the model is filled without touching the caller. mktops imports no
    feature app: the caller passes its model. Returns the `returning` values of the new rows."""
    ops = connection.ops
    columns, expressions, params = [], [], []
    for column in model._meta.concrete_fields:
        if column.primary_key:
            continue
        sql, values = select[column.attname] if column.attname in select else column_default(column, now)
        columns.append(ops.quote_name(column.column))
        expressions.append(sql)
        params += values
    # identifiers come from the model, values are parameters; "WHERE 1 = 1" keeps SQLite
    # from reading ON CONFLICT as part of the SELECT
    sql = (f"INSERT INTO {ops.quote_name(model._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608
           f"SELECT {', '.join(expressions)} FROM ({source}) s WHERE 1 = 1 ON CONFLICT DO NOTHING "
           f"RETURNING {returning}")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, *source_params])
        return cursor.fetchall()
