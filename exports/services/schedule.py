"""When runs are created: slots per frequency, one active scheduled run per connection, the sweeper."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q

from exports.models import ExportConnection, ExportRun, Frequency, RunKind
from exports.services.paths import object_key
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


def unique_timestamp(connection: ExportConnection, kind: str, now: datetime) -> int:
    """Epoch seconds for a new file, never reusing one of this connection's (keys must not collide)."""
    last = ExportRun.objects.filter(connection=connection, kind=kind).aggregate(m=Max("export_timestamp"))["m"]
    return max(int(now.timestamp()), (last or 0) + 1)


def has_active_run(connection: ExportConnection) -> bool:
    return ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED, status__in=ACTIVE).exists()


def _window_start(connection: ExportConnection):
    last = (ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED)
            .order_by("-id").values_list("window_end", flat=True).first())
    return last or connection.created_at


def run_create(*, connection: ExportConnection, kind: str, from_seq: int, to_seq: int, window_start: datetime,
               window_end: datetime, now: datetime, by_event_time: bool = False, requested_by=None) -> ExportRun:
    """A run with its range, selection and object key fixed now, due at once."""
    timestamp = unique_timestamp(connection, kind, now)
    return ExportRun.objects.create(
        connection=connection, tenant_id=connection.tenant_id, kind=kind, from_seq=from_seq, to_seq=to_seq,
        window_start=window_start, window_end=window_end, by_event_time=by_event_time,
        event_names=None if connection.all_events else list(connection.event_names),
        user_attributes=list(connection.user_attributes or []), encrypted=connection.encrypted,
        export_timestamp=timestamp, next_attempt_at=now, created_at=now, requested_by=requested_by,
        object_key=object_key(connection=connection, export_timestamp=timestamp, encrypted=connection.encrypted,
                              backfill=kind == RunKind.BACKFILL),
    )


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
