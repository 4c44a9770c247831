"""When runs are created: slots per frequency, one active scheduled run per connection, the sweeper."""

from __future__ import annotations

import hashlib
from dataclasses import asdict
from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import connection as db
from django.db import transaction
from django.db.models import Max, Q

from exports.models import ExportConnection, ExportRun, Frequency, RunKind
from exports.services.destination import connection_destination, run_destination
from exports.services.paths import key_under
from mktops import clock
from mktops.jobs import ACTIVE, due_ids, enqueue
from mktops.models import IngestCounter

RUN_TASK = "exports.tasks.export_run"
SLOT = timedelta(minutes=15)
# a run never spans more ingest sequence than this, so one run stays well inside the task timeout;
# a connection that is behind catches up with back-to-back runs
MAX_RUN_SPAN = getattr(settings, "EXPORTS_MAX_RUN_SPAN", 2_000_000)


def next_slot(frequency: str, after: datetime) -> datetime:
    """The first slot of `frequency` strictly after `after` (UTC)."""
    after = after.astimezone(UTC)
    if frequency == Frequency.EVERY_15_MINUTES:
        epoch = int(after.timestamp())
        return datetime.fromtimestamp((epoch // 900 + 1) * 900, tz=UTC)
    midnight = datetime.combine(after.date(), time.min, tzinfo=UTC)
    if frequency == Frequency.DAILY:
        return midnight + timedelta(days=1)
    days = (7 - after.weekday()) % 7 or 7  # next Monday, never today
    return midnight + timedelta(days=days)


def connection_next_slot(connection: ExportConnection, after: datetime) -> datetime:
    """Until the first file has arrived, every connection runs at 15-minute boundaries."""
    frequency = connection.frequency if connection.last_success_at else Frequency.EVERY_15_MINUTES
    return next_slot(frequency, after)


def last_ingested_seq(tenant_id: int) -> int:
    value = IngestCounter.objects.filter(tenant_id=tenant_id).values_list("last_seq", flat=True).first()
    return value or 0


def _lock_destination(bucket: str, prefix: str) -> None:
    """Until the transaction ends, no other run is given a file name under this bucket and prefix
    (PostgreSQL; SQLite lets one writer at a time anyway)."""
    if db.vendor == "postgresql":
        digest = hashlib.blake2b(f"mktops.exports:{bucket}/{prefix}".encode(), digest_size=8).digest()
        with db.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int.from_bytes(digest, "big", signed=True)])


def unique_timestamp(*, bucket: str, prefix: str, now: datetime) -> int:
    """Epoch seconds for a new file under `bucket`/`prefix`, never one a run of any tenant already has
    there: keys never collide across the platform, even where two tenants share a bucket and folder.
    Call inside a transaction; the lock holds until it ends."""
    _lock_destination(bucket, prefix)
    last = (ExportRun.objects.filter(bucket=bucket, prefix=prefix)
            .aggregate(m=Max("export_timestamp"))["m"])
    return max(int(now.timestamp()), (last or 0) + 1)


def has_active_run(connection: ExportConnection) -> bool:
    return ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED, status__in=ACTIVE).exists()


def _window_start(connection: ExportConnection):
    last = (ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED)
            .order_by("-id").values_list("window_end", flat=True).first())
    return last or connection.created_at


@transaction.atomic
def run_create(*, connection: ExportConnection, kind: str, from_seq: int, to_seq: int, window_start: datetime,
               window_end: datetime, now: datetime, by_event_time: bool = False, requested_by=None) -> ExportRun:
    """A run with its range, selection, whole destination and object key fixed now, due at once."""
    destination = connection_destination(connection, kind=kind)
    timestamp = unique_timestamp(bucket=destination.bucket, prefix=destination.prefix, now=now)
    return ExportRun.objects.create(
        connection=connection, tenant_id=connection.tenant_id, kind=kind, from_seq=from_seq, to_seq=to_seq,
        window_start=window_start, window_end=window_end, by_event_time=by_event_time,
        event_names=None if connection.all_events else list(connection.event_names),
        user_attributes=list(connection.user_attributes or []),
        device_attributes=list(connection.device_attributes or []), **asdict(destination),
        export_timestamp=timestamp, next_attempt_at=now, created_at=now, requested_by=requested_by,
        object_key=key_under(destination.prefix, timestamp, destination.encrypted),
    )


@transaction.atomic
def run_repoint(*, run: ExportRun) -> bool:
    """Give a claimed run the connection's whole destination afresh if any part of it changed since
    the run was made (exports.services.destination says why fresh, not old); True if it did.

    The file name gets a timestamp unique under the new prefix (the original one when it is free
    there); the update holds only while the run is still this worker's."""
    fresh = connection_destination(run.connection, kind=run.kind)
    if fresh == run_destination(run):
        return False
    made = datetime.fromtimestamp(run.export_timestamp, tz=UTC)
    timestamp = unique_timestamp(bucket=fresh.bucket, prefix=fresh.prefix, now=made)
    fields = {**asdict(fresh), "export_timestamp": timestamp,
              "object_key": key_under(fresh.prefix, timestamp, fresh.encrypted)}
    return run.update_if_ours(**fields)


def seq_spans(first: int, last: int) -> list[tuple[int, int]]:
    """[first, last] cut into spans of at most MAX_RUN_SPAN sequence numbers, the cap of every run."""
    return [(start, min(start + MAX_RUN_SPAN - 1, last)) for start in range(first, last + 1, MAX_RUN_SPAN)]


@transaction.atomic
def connection_schedule(*, connection_id: int, now: datetime | None = None) -> ExportRun | None:
    """Create the connection's next scheduled run if one is due; None when there is nothing to do."""
    now = now or clock.now()
    connection = (ExportConnection.objects.select_for_update().select_related("tenant")
                  .filter(pk=connection_id).first())
    if (connection is None or connection.paused or not connection.tenant.s3_export_enabled
            or connection.next_run_at is None or connection.next_run_at > now or has_active_run(connection)):
        return None
    last_seq = last_ingested_seq(connection.tenant_id)
    from_seq = connection.exported_seq + 1
    to_seq = min(last_seq, connection.exported_seq + MAX_RUN_SPAN)
    run = None
    if to_seq >= from_seq:
        run = run_create(connection=connection, kind=RunKind.SCHEDULED, from_seq=from_seq, to_seq=to_seq,
                         window_start=_window_start(connection), window_end=now, now=now)
    behind = to_seq < last_seq
    connection.next_run_at = now if behind else connection_next_slot(connection, now)
    ExportConnection.objects.filter(pk=connection.pk).update(next_run_at=connection.next_run_at)
    return run


def runnable() -> Q:
    return Q(connection__paused=False, tenant__s3_export_enabled=True)


def exports_sweep(*, now: datetime | None = None) -> list[int]:
    """Create the runs that are due per schedule, then hand every due run to a worker; returns their ids.

    Due runs include those whose worker died (their lease ran out): they run
    again on the same window and the same object key.
    """
    now = now or clock.now()
    due = (ExportConnection.objects.filter(paused=False, tenant__s3_export_enabled=True, next_run_at__lte=now)
           .values_list("pk", flat=True))
    for connection_id in list(due):
        connection_schedule(connection_id=connection_id, now=now)
    run_ids = due_ids(ExportRun, now=now, extra=runnable())
    for run_id in run_ids:
        enqueue(RUN_TASK, run_id)
    return run_ids
