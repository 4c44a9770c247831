"""The ingestion hot path's event insert, in plain SQL.

Django's bulk_create prepares every value of every row through the field
machinery and, on SQLite, splits a batch into ~50-row statements; for the
events table that costs several times the write itself. Here the rows are
written the fastest plain way each database offers: COPY on PostgreSQL,
one executemany on SQLite, inside the caller's transaction. The values are
the same Django would write (JSON as text, datetimes adapted by the backend).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson
from django.db import connection
from django.utils import timezone

from mktops.models import Event

EVENT_COLUMNS = (
    "tenant_id", "contact_id", "seq", "uid", "event_type", "event_code", "event_name", "event_uuid",
    "event_time", "event_source", "event_attributes", "user_attributes", "device_attributes",
    "email_id", "mobile_number", "push_id", "campaign_id", "received_at",
)
_JSON = {EVENT_COLUMNS.index(c) for c in ("event_attributes", "user_attributes", "device_attributes")}
_TIMES = {EVENT_COLUMNS.index(c) for c in ("event_time", "received_at")}


def insert_events(rows: list[tuple]) -> None:
    """Insert event rows given as tuples in EVENT_COLUMNS order (JSON values as Python objects)."""
    table = Event._meta.db_table
    if connection.vendor == "postgresql":
        _copy_postgres(table, rows)
    else:
        _executemany(table, rows)


def _encode(row: tuple, adapt_time=None) -> list:
    values = list(row)
    for i in _JSON:
        values[i] = orjson.dumps(values[i]).decode()
    if adapt_time is not None:
        for i in _TIMES:
            values[i] = adapt_time(values[i])
    return values


def _copy_postgres(table: str, rows: list[tuple]) -> None:
    # the raw psycopg cursor (in Django's transaction); its errors wrapped as
    # Django's, so a duplicate surfaces as IntegrityError like on SQLite
    with (connection.cursor() as cursor, connection.wrap_database_errors,
          cursor.cursor.copy(f"COPY {table} ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy):
        for row in rows:
            copy.write_row(_encode(row))


def _executemany(table: str, rows: list[tuple]) -> None:
    adapt = connection.ops.adapt_datetimefield_value
    marks = ", ".join(["%s"] * len(EVENT_COLUMNS))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({', '.join(EVENT_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed names
            [_encode(row, adapt) for row in rows],
        )


def event_ids(tenant_id: int, first_seq: int, last_seq: int) -> dict[int, int]:
    """{seq: id} of the tenant's events in a sequence range (the rows just inserted)."""
    return dict(
        Event.objects.filter(tenant_id=tenant_id, seq__gte=first_seq, seq__lte=last_seq)
        .values_list("seq", "id")
    )


@dataclass(slots=True)
class ContactRow:
    """A contact as ingestion needs it: model instances cost more than the query."""

    pk: int | None
    uid: str
    email: str = ""
    mobile_number: str = ""
    attributes: dict = field(default_factory=dict)


def array_literal(values) -> str:
    """A PostgreSQL array literal ('{"a","b"}') of text or numbers, for a `%s::text[]` parameter.

    Django's client-side binding would quote a Python list element by element
    in Python (a fifth of an ingest request for the contact arrays); one string
    is quoted once, in C. Inside double quotes only `"` and `\\` need escaping."""
    return "{" + ",".join(
        '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' if isinstance(v, str) else str(v) for v in values
    ) + "}"


def load_contacts(tenant_id: int, uids: list[str]) -> dict[str, ContactRow]:
    from mktops.models import Contact

    if connection.vendor == "postgresql":
        # one array parameter instead of a thousand placeholders; rows decoded
        # here with orjson, not field by field through the ORM
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id, uid, email, mobile_number, attributes::text FROM {Contact._meta.db_table} "  # noqa: S608
                "WHERE tenant_id = %s AND uid = ANY(%s::text[])", [tenant_id, array_literal(uids)])
            return {row[1]: ContactRow(row[0], row[1], row[2], row[3], orjson.loads(row[4]))
                    for row in cursor.fetchall()}
    found = {}
    with connection.cursor() as cursor:
        # in chunks: SQLite allows at most 32,766 placeholders per statement
        for start in range(0, len(uids), 10_000):
            chunk = uids[start:start + 10_000]
            cursor.execute(
                f"SELECT id, uid, email, mobile_number, attributes FROM {Contact._meta.db_table} "  # noqa: S608
                f"WHERE tenant_id = %s AND uid IN ({', '.join(['%s'] * len(chunk))})", [tenant_id, *chunk])
            found.update((row[1], ContactRow(row[0], row[1], row[2], row[3], orjson.loads(row[4])))
                         for row in cursor.fetchall())
    return found


def existing_uuids(tenant_id: int, uuids: list[str]) -> set[str]:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT event_uuid FROM {Event._meta.db_table} "  # noqa: S608 - fixed names
                           "WHERE tenant_id = %s AND event_uuid = ANY(%s::text[])", [tenant_id, array_literal(uuids)])
            return {row[0] for row in cursor.fetchall()}
    return set(Event.objects.filter(tenant_id=tenant_id, event_uuid__in=uuids).values_list("event_uuid", flat=True))


def insert_contacts(tenant, contacts: list) -> None:
    """Insert new contacts (final values already applied) and set their pks."""
    from mktops.models import Contact

    now = timezone.now()
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
            ids = dict(Contact.objects.filter(tenant=tenant, uid__in=[c.uid for c in contacts])
                       .values_list("uid", "id"))
    for c in contacts:
        c.pk = ids[c.uid]


def update_contacts(contacts: list) -> None:
    """Write email, mobile number and attributes of changed contacts."""
    from mktops.models import Contact

    now = timezone.now()
    table = Contact._meta.db_table
    rows = [(c.pk, c.email, c.mobile_number, orjson.dumps(c.attributes).decode()) for c in contacts]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            ids, emails, mobiles, attrs = (array_literal(col) for col in zip(*rows, strict=True))
            cursor.execute(
                f"UPDATE {table} AS c SET email = v.email, mobile_number = v.mobile, attributes = v.attrs, "  # noqa: S608
                "updated_at = %s FROM unnest(%s::bigint[], %s::text[], %s::text[], %s::jsonb[]) "
                "AS v(id, email, mobile, attrs) WHERE c.id = v.id",
                [now, ids, emails, mobiles, attrs],
            )
        else:
            stamp = connection.ops.adapt_datetimefield_value(now)
            cursor.executemany(
                f"UPDATE {table} SET email = %s, mobile_number = %s, attributes = %s, updated_at = %s "  # noqa: S608
                "WHERE id = %s",
                [(email, mobile, attr, stamp, pk) for pk, email, mobile, attr in rows],
            )
