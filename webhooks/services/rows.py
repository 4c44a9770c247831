"""Plain multi-row INSERTs for the rows webhooks writes by the thousand (deliveries, attempts).

`bulk_create` prepares every field of every row through the ORM; at thousands of rows a second
that cost more CPU than the deliveries themselves. Here the values given per row are adapted
plainly (a time by the backend, a dict or list as JSON) and every other column gets its field's
default, prepared once per call. No signals, no `save()`: these models have neither. On
PostgreSQL, rows go in by COPY, or as one array per column where conflicts are skipped.
"""

from __future__ import annotations

import json
from datetime import datetime

from django.db import connection, models

from mktops.fastwrite import array_literal

# values per INSERT statement, below SQLite's parameter limit (32766)
MAX_PARAMETERS = 30000


def _plain(value):
    if isinstance(value, datetime):
        return connection.ops.adapt_datetimefield_value(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return value


def rows_insert(model: type[models.Model], rows: list[dict], *, ignore_conflicts: bool = False) -> None:
    """INSERT `rows` (dicts by attname, all with the same keys) into `model`'s table; with
    `ignore_conflicts` a row that breaks a unique constraint is skipped (ON CONFLICT DO NOTHING,
    which PostgreSQL and SQLite both speak)."""
    if not rows:
        return
    given = list(rows[0])
    fields = {f.attname: f for f in model._meta.concrete_fields if not f.primary_key}
    unknown = set(given) - set(fields)
    if unknown:
        raise ValueError(f"{model.__name__} has no column for {sorted(unknown)}")
    defaults = [(f.column, f.get_db_prep_save(f.get_default(), connection))
                for name, f in fields.items() if name not in given]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(c) for c in [fields[n].column for n in given] + [c for c, _ in defaults])
    constant = [v for _, v in defaults]
    if connection.vendor != "postgresql":
        _insert_values(model, columns, given, rows, constant, ignore_conflicts)
    elif ignore_conflicts:
        _insert_arrays(model, [fields[n] for n in given], [c for c, _ in defaults], rows, constant)
    else:
        _copy(model, columns, [[_plain(row[n]) for n in given] + constant for row in rows])


def _insert_values(model: type[models.Model], columns: str, given: list[str], rows: list[dict], constant: list,
                   ignore_conflicts: bool) -> None:
    """Multi-row INSERTs (SQLite), as many rows a statement as its parameter limit allows."""
    width = len(given) + len(constant)
    placeholder = "(" + ", ".join(["%s"] * width) + ")"
    per_statement = max(1, MAX_PARAMETERS // width)
    tail = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    # names from the model, values as parameters
    sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({columns}) VALUES "  # noqa: S608
    for start in range(0, len(rows), per_statement):
        chunk = rows[start:start + per_statement]
        values = []
        for row in chunk:
            values += [_plain(row[n]) for n in given]
            values += constant
        with connection.cursor() as cursor:
            cursor.execute(sql + ", ".join([placeholder] * len(chunk)) + tail, values)


def _copy(model: type[models.Model], columns: str, rows: list[list]) -> None:
    """PostgreSQL's COPY: for 500 attempt rows a sixth of the multi-row INSERT's time (which the
    server parses, and psycopg scans in Python, placeholder by placeholder). COPY has no ON
    CONFLICT, hence only without `ignore_conflicts`."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)


def _insert_arrays(model: type[models.Model], given: list, default_columns: list[str], rows: list[dict],
                   constant: list) -> None:
    """PostgreSQL, skipping conflicts: one array parameter per column, unnested into rows (COPY
    cannot skip them); a third of the multi-row INSERT's time for a batch of delivery rows."""
    quote = connection.ops.quote_name
    arrays = [array_literal([_plain(row[f.attname]) for row in rows]) for f in given]
    unnest = ", ".join(f"%s::{f.db_type(connection)}[]" for f in given)
    columns = ", ".join(quote(c) for c in [f.column for f in given] + default_columns)
    extra = "".join(", %s" for _ in constant)
    sql = (f"INSERT INTO {quote(model._meta.db_table)} ({columns}) "  # noqa: S608 - names from the model
           f"SELECT *{extra} FROM unnest({unnest}) ON CONFLICT DO NOTHING")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*constant, *arrays])
