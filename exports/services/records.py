"""The export records of a run, streamed: chunked reads, one JSON line per event.

JSON columns are read as text and embedded as they are (`orjson.Fragment`),
so an event's attributes are never parsed and re-serialised; only the
contact's attributes are parsed, to pick the selected ones.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from django.db import connection
from django.db.models import QuerySet, TextField
from django.db.models.functions import Cast

from exports.models import ExportRun
from mktops.models import Event

CHUNK_SIZE = 2000
GZIP_LEVEL = 6
EMPTY = orjson.Fragment(b"{}")
COLUMNS = ("seq", "uid", "event_type", "event_code", "event_name", "event_uuid", "event_time", "event_source",
           "ea", "da", "email_id", "mobile_number", "push_id")


@dataclass
class StreamStats:
    events: int = 0
    bytes_uncompressed: int = 0
    bytes_compressed: int = 0
    first_seq: int | None = None
    last_seq: int | None = None


def run_events(run: ExportRun) -> QuerySet:
    """The run's events: its fixed sequence range (a re-export: within it, those of its event-time range;
    a large re-export is split into runs of consecutive sequence ranges)."""
    qs = Event.objects.filter(tenant_id=run.tenant_id, seq__gte=run.from_seq, seq__lte=run.to_seq)
    if run.by_event_time:
        qs = qs.filter(event_time__gte=run.window_start, event_time__lt=run.window_end)
    if run.event_names is not None:
        qs = qs.filter(event_name__in=run.event_names)
    return qs


def _rows(run: ExportRun, chunk_size: int) -> Iterator[tuple]:
    qs = run_events(run).order_by("seq").annotate(
        ea=Cast("event_attributes", TextField()), da=Cast("device_attributes", TextField()))
    columns = COLUMNS
    if connection.vendor == "sqlite":
        # SQLite keeps times as text: read it as text and parse it in C (_epoch), not through
        # Django's per-value converters (which cost a third of the run)
        qs = qs.annotate(et=Cast("event_time", TextField()))
        columns = tuple("et" if c == "event_time" else c for c in columns)
    if run.user_attributes:
        qs = qs.annotate(ua=Cast("contact__attributes", TextField()))
        columns = (*columns, "ua")
    return qs.values_list(*columns).iterator(chunk_size=chunk_size)


def _epoch(moment: datetime | str) -> int | float:
    if isinstance(moment, str):  # SQLite: text, naive UTC as Django stores it
        moment = datetime.fromisoformat(moment)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
    value = moment.timestamp()
    return int(value) if value.is_integer() else value


class RecordWriter:
    """Turns rows into JSON lines: the record envelope is fixed per file."""

    def __init__(self, run: ExportRun, *, app_name: str, db_name: str):
        made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
        self.app_name, self.db_name = app_name, db_name
        # the seed's records carry the hour as a string without padding ("6", "10")
        self.export_hour, self.export_day = str(made.hour), f"{made:%Y-%m-%d}"
        self.attributes = list(run.user_attributes or [])
        self.device_attributes = list(run.device_attributes or [])

    def user_attributes(self, uid: str, raw: str | None) -> dict:
        selected = {}
        if self.attributes and raw:
            profile = orjson.loads(raw)
            selected = {name: profile[name] for name in self.attributes if name in profile}
        selected["user_id"] = uid
        return selected

    def device(self, raw: str | None) -> orjson.Fragment | dict:
        """The event's device attributes: as ingested (never parsed) unless some were chosen."""
        if not self.device_attributes:
            return orjson.Fragment(raw) if raw else EMPTY
        device = orjson.loads(raw) if raw else {}
        return {name: device[name] for name in self.device_attributes if name in device}

    def line(self, row: tuple) -> bytes:
        (_, uid, event_type, code, name, uuid, when, source, ea, da, email, mobile, push) = row[:13]
        event = {
            "uid": uid, "event_type": event_type, "event_code": code, "event_name": name,
            "user_attributes": self.user_attributes(uid, row[13] if len(row) > 13 else None),
            "event_source": source,
            "event_attributes": orjson.Fragment(ea) if ea else EMPTY,
            "event_uuid": uuid, "event_time": _epoch(when),
            "device_attributes": self.device(da),
        }
        if email:
            event["email_id"] = email
        if mobile:
            event["mobile_number"] = mobile
        if push:
            event["push_id"] = push
        return orjson.dumps({"app_name": self.app_name, "export_hour": self.export_hour, "db_name": self.db_name,
                             "event": event, "export_day": self.export_day}, option=orjson.OPT_APPEND_NEWLINE)


def stream_gzip(run: ExportRun, sink: Callable[[bytes], None], *, app_name: str, db_name: str,
                chunk_size: int = CHUNK_SIZE, on_chunk: Callable[[StreamStats], None] | None = None) -> StreamStats:
    """Write the gzip of the run's JSON lines to `sink`, one chunk of rows at a time."""
    writer = RecordWriter(run, app_name=app_name, db_name=db_name)
    compressor = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)  # wbits 31: the gzip container
    stats = StreamStats()
    batch: list[bytes] = []

    def flush():
        data = b"".join(batch)
        batch.clear()
        stats.bytes_uncompressed += len(data)
        out = compressor.compress(data)
        if out:
            stats.bytes_compressed += len(out)
            sink(out)
        if on_chunk:
            on_chunk(stats)

    for row in _rows(run, chunk_size):
        if stats.first_seq is None:
            stats.first_seq = row[0]
        stats.last_seq = row[0]
        batch.append(writer.line(row))
        stats.events += 1
        if len(batch) >= chunk_size:
            flush()
    flush()
    tail = compressor.flush()
    stats.bytes_compressed += len(tail)
    sink(tail)
    return stats
