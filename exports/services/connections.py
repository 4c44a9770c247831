"""What operators do with a connection: save, pause, resume, delete, test, re-export; and its health."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max, Min

from exports.models import ExportConnection, ExportRun, Frequency, RunKind
from exports.services.paths import connection_prefixes, connection_target, probe_key
from exports.services.rules import connection_validate
from exports.services.schedule import (
    RUN_TASK,
    connection_next_slot,
    connection_schedule,
    last_ingested_seq,
    next_slot,
    run_create,
    seq_spans,
)
from mktops import clock, pgp, ratelimit
from mktops.errors import CheckResult
from mktops.jobs import ACTIVE, JobStatus, enqueue_on_commit
from mktops.models import Event
from mktops.services import audit_log_write
from mktops.storage import s3

ERR_RANGE_ORDER = "The first day must not be after the last day."
ERR_RANGE_FUTURE = "The last day must not be after today (UTC)."
ERR_RANGE_RETENTION = ("Events are kept for {days} days: the first day can be {earliest} at the earliest; "
                       "older events are gone.")
ERR_NOT_ENTITLED = "S3 export is not enabled for this tenant: a CSM must switch it on before files are sent."
MSG_TEST_OK = ("Test connection succeeded: uploaded {key} to bucket {bucket}; uploads left unfinished under "
               "{prefixes} are removed after {days} day(s) by the lifecycle rule set there.")
ERR_LIFECYCLE = ("Could not set the lifecycle rule that removes unfinished uploads: allow s3:GetLifecycleConfiguration "
                 "and s3:PutLifecycleConfiguration as the bucket policy shown here does. ({reason})")
# a worker killed mid-upload leaves parts that the tenant pays for and never sees
ABANDONED_UPLOAD_DAYS = 1
MSG_TEST_FAILED = "Test connection failed: {reason}"
ERR_RESUME_KEY_EXPIRED = ("The encryption key expired on {date}: paste a current public key and save, then resume "
                          "(the events not yet exported go in the next file).")
KEY_WARNING_DAYS = 14
MSG_KEY_EXPIRES = ("The encryption key expires on {date:%Y-%m-%d %H:%M} UTC, in {days} day(s): paste a renewed "
                   "public key before then. When it expires, files stop and the connection pauses.")
MSG_KEY_EXPIRED = ("The encryption key expired on {date:%Y-%m-%d %H:%M} UTC: files cannot be encrypted. Paste a "
                   "current public key and save, then resume.")
PROBE_TEXT = b"mktops S3 export connection test. This object can be deleted.\n"


FREQUENCY_HELP = ("Warning: changing the frequency changes when files are written, nothing else. mktops loses and "
                  "duplicates nothing on a change: files follow the order events were received in, and every "
                  "event is in exactly one file. The path stays the same; only the file times follow the new "
                  "schedule.")
MSG_FREQUENCY_CHANGED = ("Frequency changed to {frequency}: the next file is written at {next:%Y-%m-%d %H:%M} UTC "
                         "with every event not yet exported; nothing is lost or sent twice, and the path stays "
                         "{uri}.")


def frequency_change_preview(*, connection: ExportConnection, now: datetime) -> dict[str, datetime]:
    """When the next file would come if the operator chose each frequency now."""
    preview = ExportConnection(frequency=connection.frequency, last_success_at=connection.last_success_at)
    slots = {}
    for value in Frequency.values:
        preview.frequency = value
        slots[value] = connection_next_slot(preview, now)
    return slots


SETTINGS_FIELDS = ("name", "bucket", "folder_path", "region", "all_events", "event_names", "user_attributes",
                   "device_attributes",
                   "frequency", "encryption", "pgp_public_key", "pgp_fingerprint", "pgp_algorithm", "pgp_expires_at",
                   "kms_key_arn", "updated_at")


@transaction.atomic
def connection_save(*, connection: ExportConnection, by=None, frequency_changed: bool = False) -> ExportConnection:
    """Validate and save. A new connection exports events ingested from now on; its first file
    comes at the next 15-minute boundary. A frequency change moves only the next slot: runs go by
    ingest sequence, so nothing is lost or exported twice."""
    connection_validate(connection=connection)
    now = clock.now()
    created = connection.pk is None
    if created:
        connection.created_by = by if getattr(by, "is_authenticated", False) else None
        connection.created_at = now
        connection.exported_seq = last_ingested_seq(connection.tenant_id)
        connection.next_run_at = next_slot(Frequency.EVERY_15_MINUTES, now)
        connection.save()
    else:
        # only what the operator edits: the watermark and the schedule belong to the runs
        fields = [*SETTINGS_FIELDS]
        if frequency_changed:
            connection.next_run_at = connection_next_slot(connection, now)
            fields.append("next_run_at")
        connection.save(update_fields=fields)
    audit_log_write(user=by, action="s3_export.create" if created else "s3_export.change",
                    tenant=connection.tenant, obj=connection,
                    detail={"name": connection.name, "bucket": connection.bucket})
    return connection


def connection_pause(*, connection: ExportConnection, by=None) -> None:
    ExportConnection.objects.filter(pk=connection.pk).update(paused=True, paused_reason="")
    connection.paused, connection.paused_reason = True, ""
    audit_log_write(user=by, action="s3_export.pause", tenant=connection.tenant, obj=connection)


def connection_resume(*, connection: ExportConnection, by=None) -> None:
    """Resume: the events ingested while paused go in the next file (nothing is skipped). Refused while
    the encryption key has expired: every file would fail again."""
    now = clock.now()
    if connection.encrypted and connection.pgp_expires_at and connection.pgp_expires_at <= now:
        raise ValidationError(ERR_RESUME_KEY_EXPIRED.format(date=f"{connection.pgp_expires_at:%Y-%m-%d}"))
    next_run = min(connection.next_run_at or now, connection_next_slot(connection, now))
    ExportConnection.objects.filter(pk=connection.pk).update(paused=False, paused_reason="", next_run_at=next_run)
    connection.paused, connection.paused_reason, connection.next_run_at = False, "", next_run
    audit_log_write(user=by, action="s3_export.resume", tenant=connection.tenant, obj=connection)


def connection_delete(*, connection: ExportConnection, by=None) -> None:
    audit_log_write(user=by, action="s3_export.delete", tenant=connection.tenant, obj=connection,
                    detail={"name": connection.name, "bucket": connection.bucket})
    connection.delete()


def _probe(connection: ExportConnection, key: str) -> None:
    target = connection_target(connection)
    located = s3.bucket_region(target)
    if located and located != connection.region:
        raise s3.S3Error(s3.S3Error.WRONG_REGION, f"The bucket {connection.bucket!r} is in {located}, "
                                                  f"not in {connection.region}: choose {located}.")
    body = pgp.encrypt_bytes(connection.pgp_public_key, PROBE_TEXT) if connection.encrypted else PROBE_TEXT
    s3.put_object(target, key, body, content_type="text/plain", kms_key_id=connection.kms_key_arn,
                  acl=s3.BUCKET_OWNER_FULL_CONTROL)
    _install_abort_rules(connection)


def _install_abort_rules(connection: ExportConnection) -> None:
    """The rule that aborts our abandoned multipart uploads, under our own prefixes only (the
    tenant's other uploads are none of our business)."""
    for prefix in connection_prefixes(connection):
        try:
            s3.ensure_abort_incomplete_rule(connection_target(connection), prefix, days=ABANDONED_UPLOAD_DAYS)
        except s3.S3Error as exc:
            raise s3.S3Error(exc.reason, ERR_LIFECYCLE.format(reason=exc.message)) from exc


def connection_test(*, connection: ExportConnection, by=None) -> CheckResult:
    """Upload a small probe (encrypted when PGP is on) and say whether it worked, and if not, why;
    the probe's key is the result's `detail`. At most ratelimit.CONNECTION_TESTS per tenant in
    ratelimit.CONNECTION_TEST_WINDOW: a refused test uploads nothing and records no outcome."""
    saved = connection.pk is not None  # the add form tests before saving: same checks, nothing stored
    try:
        attempt = ratelimit.attempt_start(tenant=connection.tenant, action="s3_export.test",
                                          what="connection tests", user=by, obj=connection if saved else None)
    except ratelimit.RateLimited as err:
        return CheckResult(False, err.message, reason=err.reason)
    now = clock.now()
    outcome = _probe_outcome(connection, probe_key(connection, now))
    if saved:
        ExportConnection.objects.filter(pk=connection.pk).update(
            last_test_at=now, last_test_ok=outcome.ok, last_test_message=outcome.message)
    connection.last_test_at, connection.last_test_ok, connection.last_test_message = now, outcome.ok, outcome.message
    ratelimit.attempt_finish(attempt, ok=outcome.ok, reason=outcome.reason)
    return outcome


def _probe_outcome(connection: ExportConnection, key: str) -> CheckResult:
    try:
        _probe(connection, key)
    except s3.S3Error as exc:
        return CheckResult(False, MSG_TEST_FAILED.format(reason=exc.message), reason=exc.reason)
    except pgp.PgpError as exc:
        return CheckResult(False, MSG_TEST_FAILED.format(reason=exc.message), reason="pgp")
    prefixes = " and ".join(connection_prefixes(connection))
    return CheckResult(True, MSG_TEST_OK.format(key=key, bucket=connection.bucket, prefixes=prefixes,
                                                days=ABANDONED_UPLOAD_DAYS), detail=key)


def _reexport_errors(connection: ExportConnection, first: date, last: date, today: date) -> dict:
    earliest = today - timedelta(days=connection.tenant.event_retention_days)
    errors = {}
    if first > last:
        errors["date_from"] = [ERR_RANGE_ORDER]
    if last > today:
        errors["date_to"] = [ERR_RANGE_FUTURE]
    if first < earliest:
        errors["date_from"] = [ERR_RANGE_RETENTION.format(days=connection.tenant.event_retention_days,
                                                          earliest=f"{earliest:%Y-%m-%d}")]
    return errors


@transaction.atomic
def connection_reexport(*, connection: ExportConnection, date_from: date, date_to: date,
                        by=None) -> list[ExportRun]:
    """Export the still-retained events of [date_from, date_to] (event time, UTC, whole days) again,
    into the backfill/ prefix, one file per run. The watermark is not touched.

    A large range is split into runs of consecutive ingest-sequence spans of at most the cap of a
    scheduled run (schedule.MAX_RUN_SPAN), so that no run outgrows the task timeout."""
    now = clock.now()
    if not connection.tenant.s3_export_enabled:
        raise ValidationError(ERR_NOT_ENTITLED)
    errors = _reexport_errors(connection, date_from, date_to, now.date())
    if errors:
        raise ValidationError(errors)
    start = datetime.combine(date_from, time.min, tzinfo=UTC)
    end = datetime.combine(date_to + timedelta(days=1), time.min, tzinfo=UTC)
    by_user = by if getattr(by, "is_authenticated", False) else None
    runs = [run_create(connection=connection, kind=RunKind.BACKFILL, from_seq=first, to_seq=last,
                       window_start=start, window_end=end, now=now, by_event_time=True, requested_by=by_user)
            for first, last in _reexport_spans(connection, start, end)]
    audit_log_write(user=by, action="s3_export.reexport", tenant=connection.tenant, obj=connection,
                    detail={"from": f"{date_from}", "to": f"{date_to}", "runs": [run.pk for run in runs]})
    for run in runs:
        enqueue_on_commit(RUN_TASK, run.pk)
    return runs


def _reexport_spans(connection: ExportConnection, start: datetime, end: datetime) -> list[tuple[int, int]]:
    """The sequence spans that hold the range's events (one empty run when it has none: the
    operator sees that there was nothing to export)."""
    bounds = Event.objects.filter(tenant_id=connection.tenant_id, event_time__gte=start, event_time__lt=end
                                  ).aggregate(first=Min("seq"), last=Max("seq"))
    if bounds["first"] is None:
        return [(1, last_ingested_seq(connection.tenant_id))]
    return seq_spans(bounds["first"], bounds["last"])


ERR_RUN_NOW_PAUSED = "The connection is paused: resume it first, then Run now."
MSG_RUN_NOW = "Run now: the events pending now go to {key}; the schedule goes on as before."
MSG_RUN_NOW_NOTHING = "Run now: nothing to export, every event received so far has been exported."
MSG_RUN_NOW_ACTIVE = ("Run now: the current file ({key}) is not written yet; it was made due now and holds the "
                      "pending events (the next file takes what arrives after it).")


@transaction.atomic
def connection_run_now(*, connection: ExportConnection, by=None) -> str:
    """Export what is pending now, into the normal path, instead of waiting for the next slot; the
    schedule is not moved. Returns the sentence for the operator; ValidationError when it may not run."""
    if not connection.tenant.s3_export_enabled:
        raise ValidationError(ERR_NOT_ENTITLED)
    if connection.paused:
        raise ValidationError(ERR_RUN_NOW_PAUSED)
    now = clock.now()
    active = (ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED, status__in=ACTIVE)
              .order_by("id").first())
    if active is not None:
        # one scheduled run at a time keeps the watermark simple: hurry the one there is
        run_retry_now(run=active, by=by)
        message, run = MSG_RUN_NOW_ACTIVE.format(key=active.object_key), active
    else:
        # due now for this once; connection_schedule then sets the next slot of its frequency
        ExportConnection.objects.filter(pk=connection.pk).update(next_run_at=now)
        run = connection_schedule(connection_id=connection.pk, now=now)
        message = MSG_RUN_NOW.format(key=run.object_key) if run else MSG_RUN_NOW_NOTHING
        if run is not None:
            enqueue_on_commit(RUN_TASK, run.pk)
    audit_log_write(user=by, action="s3_export.run_now", tenant=connection.tenant, obj=connection,
                    detail={"run": run.pk if run else None})
    return message


def run_retry_now(*, run: ExportRun, by=None) -> bool:
    """Make a waiting or failed run due at once (the operator fixed the bucket policy, say)."""
    changed = ExportRun.objects.filter(pk=run.pk, status__in=(JobStatus.RETRYING, JobStatus.FAILED)).update(
        status=JobStatus.RETRYING, next_attempt_at=clock.now(), finished_at=None)
    if changed:
        audit_log_write(user=by, action="s3_export.retry", tenant=run.tenant, obj=run)
        enqueue_on_commit(RUN_TASK, run.pk)
    return bool(changed)


# --- health ------------------------------------------------------------------
INTERVALS = {Frequency.EVERY_15_MINUTES: timedelta(minutes=15), Frequency.DAILY: timedelta(days=1),
             Frequency.WEEKLY: timedelta(days=7)}


@dataclass(frozen=True)
class Health:
    state: str  # ok, waiting, lagging, failing, paused, not_entitled
    text: str
    lag: timedelta | None


def connection_lag(connection: ExportConnection, now: datetime) -> timedelta | None:
    """The age of the oldest selected event not yet exported (None when everything is exported)."""
    qs = Event.objects.filter(tenant_id=connection.tenant_id, seq__gt=connection.exported_seq)
    if not connection.all_events:
        qs = qs.filter(event_name__in=connection.event_names or [])
    oldest = qs.order_by("seq").values_list("received_at", flat=True).first()
    return max(now - oldest, timedelta(0)) if oldest else None


def _describe_lag(lag: timedelta | None) -> str:
    if lag is None:
        return "every selected event has been exported"
    minutes = int(lag.total_seconds() // 60)
    if minutes < 120:
        return f"the oldest event not yet exported is {minutes} min old"
    return f"the oldest event not yet exported is {minutes // 60} h {minutes % 60} min old"


def connection_health(*, connection: ExportConnection, now: datetime | None = None) -> Health:
    now = now or clock.now()
    lag = connection_lag(connection, now)
    if not connection.tenant.s3_export_enabled:
        return Health("not_entitled", ERR_NOT_ENTITLED, lag)
    if connection.paused:
        why = f" by mktops: {connection.paused_reason.rstrip('.')}" if connection.paused_reason else ""
        return Health("paused", f"Paused{why}; nothing is sent until it is resumed; {_describe_lag(lag)}.", lag)
    active = (ExportRun.objects.filter(connection=connection, kind=RunKind.SCHEDULED, status__in=ACTIVE)
              .order_by("id").first())
    if active and active.status == JobStatus.RETRYING:
        return Health("failing", f"Failing: the current file failed {active.attempts} time(s), next attempt "
                                 f"{active.next_attempt_at:%Y-%m-%d %H:%M} UTC. Last error: {active.last_error}",
                      lag)
    if _test_failed_since_last_file(connection):
        return Health("test_failed", HEALTH_TEST_FAILED.format(when=connection.last_test_at,
                                                               message=connection.last_test_message), lag)
    allowed = INTERVALS[connection.frequency] + timedelta(minutes=30)
    if lag is not None and lag > allowed:
        return Health("lagging", f"Behind schedule: {_describe_lag(lag)}.", lag)
    if connection.last_file_at is None:
        if connection.last_success_at is None:
            return Health("waiting", f"Waiting for the first file (next run {connection.next_run_at:%Y-%m-%d %H:%M} "
                                     f"UTC); {_describe_lag(lag)}.", lag)
        # runs finished, but none had a selected event: saying "last file" here would be untrue
        return Health("ok", HEALTH_NO_FILE_YET.format(lag=_describe_lag(lag)), lag)
    return Health("ok", f"Healthy: last file {connection.last_file_at:%Y-%m-%d %H:%M} UTC; "
                        f"{_describe_lag(lag)}.", lag)


def key_expiry_warning(*, connection: ExportConnection, now: datetime | None = None) -> str:
    """The warning operators get from 14 days before the encryption key expires ('' when none is due)."""
    now = now or clock.now()
    expires = connection.pgp_expires_at
    if not connection.encrypted or expires is None or expires - now > timedelta(days=KEY_WARNING_DAYS):
        return ""
    if expires <= now:
        return MSG_KEY_EXPIRED.format(date=expires)
    return MSG_KEY_EXPIRES.format(date=expires, days=max(1, (expires - now).days))


def connections_with_expiring_keys(*, tenant_ids, now: datetime | None = None):
    now = now or clock.now()
    return ExportConnection.objects.filter(tenant_id__in=tenant_ids, encryption="pgp",
                                           pgp_expires_at__lte=now + timedelta(days=KEY_WARNING_DAYS))


HEALTH_TEST_FAILED = "Test connection failed at {when:%Y-%m-%d %H:%M} UTC: {message}"
HEALTH_NO_FILE_YET = ("Healthy, but no file has been written yet: no selected event has arrived since the "
                      "connection was set up; {lag}.")


def _test_failed_since_last_file(connection: ExportConnection) -> bool:
    """A failed Test connection is news until a file has been written after it."""
    if connection.last_test_ok is not False or connection.last_test_at is None:
        return False
    return connection.last_file_at is None or connection.last_test_at > connection.last_file_at
