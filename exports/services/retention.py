"""What S3 exports still owe a tenant: the hold they put on the core's retention purge.

An active connection holds every event it has not exported yet (above its watermark), for as long
as it takes: the purge never deletes an event that was never exported, however long the bucket
fails. A paused connection (or one whose tenant's S3 export a CSM switched off) holds them too, so
that the operator can resume without loss, but only up to PAUSED_HOLD_EXTRA_DAYS days beyond the
retention (by event time): a connection paused and forgotten must not stop the retention forever.
A deleted connection holds nothing. Re-exports hold nothing either: they repeat events that were
exported already.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from exports.models import ExportConnection, ExportRun, RunKind
from mktops.jobs import JobStatus
from mktops.models import Tenant
from mktops.retention import RetentionHold

PAUSED_HOLD_EXTRA_DAYS = 30
HOLD_ACTIVE = "the S3 export connection “{name}” has not exported them yet; they are deleted once it has."
HOLD_FAILING = ("the S3 export connection “{name}” has not exported them yet because its current file keeps "
                "failing ({error}); they are deleted once it has.")
HOLD_PAUSED = ("the S3 export connection “{name}” is {state} and has not exported them yet; they are kept for at "
               "most {days} days after their event time, then deleted exported or not: resume it before then.")


def connection_hold(connection: ExportConnection, tenant: Tenant, now: datetime) -> RetentionHold:
    seq = connection.exported_seq + 1
    if connection.paused or not tenant.s3_export_enabled:
        days = tenant.event_retention_days + PAUSED_HOLD_EXTRA_DAYS
        state = "paused" if connection.paused else "not enabled for this tenant"
        return RetentionHold(seq, HOLD_PAUSED.format(name=connection.name, state=state, days=days),
                             not_before=now - timedelta(days=days))
    failing = (ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED, status=JobStatus.RETRYING)
               .values_list("last_error", flat=True).first())
    if failing:
        return RetentionHold(seq, HOLD_FAILING.format(name=connection.name, error=failing.rstrip(".")))
    return RetentionHold(seq, HOLD_ACTIVE.format(name=connection.name))


def export_retention_holds(tenant: Tenant, now: datetime) -> list[RetentionHold]:
    """Registered with mktops.retention in ExportsConfig.ready()."""
    return [connection_hold(connection, tenant, now)
            for connection in ExportConnection.objects.filter(tenant=tenant).order_by("name")]
