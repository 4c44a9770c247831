"""Executing a run: claim it, stream its window to S3, record the outcome.

Exactly once: the run's window and object key were fixed when it was created.
A retry, or a re-run after a worker died, rewrites the same object (after
aborting the dead worker's unfinished multipart upload); the watermark and
the usage move in one transaction with the run's success, and only for the
worker still holding the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import orjson
from django.db import transaction
from django.db.models import F

from exports.models import ExportConnection, ExportConnectionUsage, ExportRun, ExportUsage, RunKind
from exports.services import records
from exports.services.destination import key_taken, run_target, write_condition
from exports.services.paths import manifest_key
from exports.services.schedule import next_slot, run_repoint
from mktops import clock, pgp
from mktops.jobs import claim
from mktops.services import audit_log_write
from mktops.storage import s3

log = logging.getLogger(__name__)

# a failed run waits this long before the next attempt; scheduled runs keep retrying at the last
# interval (their window must reach the bucket), a re-export gives up after the last one
RETRY_DELAYS = (timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
                timedelta(hours=3), timedelta(hours=6))
HEARTBEAT = timedelta(seconds=30)
# a run's lease is short and extended by the heartbeat while it streams, so a run whose worker died
# is taken over after minutes, however long the file; the steps between beats (listing and aborting
# old uploads, completing the upload, the manifest) are bounded by the S3 client's timeouts
RUN_LEASE = timedelta(minutes=5)
PART_SIZE = s3.PART_SIZE
ERR_NOT_ENTITLED = "S3 export is not enabled for this tenant: a CSM must switch it on before files are sent."
ERR_PAUSED = "The connection is paused."
ERR_KEY_MISSING = "The run is to be encrypted but the connection has no PGP key any more; add the key again."
ERR_LEASE_LOST = "Another worker took this run over (this worker was too slow); it continues there."
MSG_NO_EVENTS = "No selected events in this window: no file was written."


class LeaseLost(Exception):
    pass


@dataclass
class Upload:
    stats: records.StreamStats
    size: int
    sha256: str


def retry_delay(attempts: int) -> timedelta:
    return RETRY_DELAYS[min(max(attempts, 1), len(RETRY_DELAYS)) - 1]


def run_blocker(run: ExportRun) -> str:
    """Why this run may not go now ('' when it may)."""
    if not run.tenant.s3_export_enabled:
        return ERR_NOT_ENTITLED
    if run.connection.paused:
        return ERR_PAUSED
    return ""


def _heartbeat(run: ExportRun) -> Callable[[records.StreamStats], None]:
    """Extend the lease while streaming (Job.extend_lease, guarded like every outcome); stop the
    upload when another worker took the run over."""
    state = {"at": clock.now()}

    def beat(_stats):
        now = clock.now()
        if now - state["at"] < HEARTBEAT:
            return
        state["at"] = now
        if not run.extend_lease(now + RUN_LEASE):
            raise LeaseLost(ERR_LEASE_LOST)

    return beat


def _stream(run: ExportRun, sink: Callable[[bytes], None], on_chunk) -> records.StreamStats:
    """gzip → (PGP) → sink."""
    tenant = run.tenant
    names = {"app_name": tenant.app_name or tenant.name, "db_name": tenant.db_name}
    if not run.encrypted:
        return records.stream_gzip(run, sink, on_chunk=on_chunk, **names)
    key = run.pgp_public_key  # the run's own copy, taken with the rest of its destination
    if not key:
        raise pgp.PgpError(ERR_KEY_MISSING)
    encryptor = pgp.EncryptingWriter(key, sink)
    try:
        stats = records.stream_gzip(run, encryptor.write, on_chunk=on_chunk, **names)
    except BaseException:
        encryptor.abort()
        raise
    encryptor.close()
    return stats


def _abort_leftovers(run: ExportRun) -> None:
    """A worker that died mid-upload left an unfinished multipart upload of this very key."""
    try:
        count = s3.abort_stale_uploads(run_target(run), run.object_key)
    except s3.S3Error as exc:  # not allowed to list uploads: the lifecycle rule cleans up instead
        log.info("could not list unfinished uploads of %s: %s", run.object_key, exc)
        return
    if count:
        log.warning("aborted %d unfinished upload(s) of %s left by a dead worker", count, run.object_key)


def _manifest(run: ExportRun, upload: Upload) -> bytes:
    return orjson.dumps({
        "object_key": run.object_key, "event_count": upload.stats.events, "sha256": upload.sha256,
        "size": upload.size, "bytes_uncompressed": upload.stats.bytes_uncompressed,
        "bytes_compressed": upload.stats.bytes_compressed, "encrypted": run.encrypted,
        "format": "application/x-ndjson+gzip" + ("+pgp" if run.encrypted else ""),
        "kind": run.kind, "export_timestamp": run.export_timestamp,
        "window": {"from_seq": run.from_seq, "to_seq": run.to_seq, "start": run.window_start.isoformat(),
                   "end": run.window_end.isoformat(),
                   "by": "event_time" if run.by_event_time else "ingest_sequence"},
        "first_seq": upload.stats.first_seq, "last_seq": upload.stats.last_seq,
    }, option=orjson.OPT_INDENT_2)


def run_upload(*, run: ExportRun, part_size: int | None = None) -> Upload:
    """Stream the run's file and its manifest to the run's bucket, never over an object it did not write."""
    target, kms = run_target(run), run.kms_key_arn
    _abort_leftovers(run)
    content_type = "application/pgp-encrypted" if run.encrypted else "application/gzip"
    condition = write_condition(run, run.object_key)
    with (_not_replacing(run, run.object_key),
          s3.MultipartUpload(target, run.object_key, content_type=content_type, kms_key_id=kms,
                             part_size=part_size or PART_SIZE, acl=s3.BUCKET_OWNER_FULL_CONTROL,
                             **condition) as upload):
        stats = _stream(run, upload.write, _heartbeat(run))
    result = Upload(stats=stats, size=upload.size, sha256=upload.hexdigest)
    key = manifest_key(run.object_key)
    with _not_replacing(run, key):
        s3.put_object(target, key, _manifest(run, result), content_type="application/json", kms_key_id=kms,
                      acl=s3.BUCKET_OWNER_FULL_CONTROL, **write_condition(run, key))
    return result


@contextmanager
def _not_replacing(run: ExportRun, key: str):
    """The conditional write lost a race (someone wrote the key after our check): say where."""
    try:
        yield
    except s3.S3Error as exc:
        if exc.reason == s3.S3Error.OBJECT_EXISTS:
            raise key_taken(run, key) from exc
        raise


def usage_add(*, tenant_id: int, day: date, events: int, size: int, connection: ExportConnection | None = None
              ) -> None:
    """Count one file in the tenant's month and, when given, in the connection's (what the CSM bills)."""
    month = day.replace(day=1)
    counted = {"events": F("events") + events, "bytes": F("bytes") + size, "files": F("files") + 1}
    ExportUsage.objects.get_or_create(tenant_id=tenant_id, month=month)
    ExportUsage.objects.filter(tenant_id=tenant_id, month=month).update(**counted)
    if connection is not None:
        ExportConnectionUsage.objects.get_or_create(connection=connection, month=month, defaults={
            "tenant_id": tenant_id, "connection_name": connection.name})
        ExportConnectionUsage.objects.filter(connection=connection, month=month).update(
            connection_name=connection.name, **counted)


def _move_watermark(run: ExportRun, now) -> None:
    connections = ExportConnection.objects.filter(pk=run.connection_id)
    # the first file has arrived: from now on the connection keeps its own frequency
    connections.filter(last_success_at__isnull=True, next_run_at__gt=now).update(
        next_run_at=next_slot(run.connection.frequency, now))
    connections.filter(exported_seq__lt=run.to_seq).update(exported_seq=run.to_seq, last_success_at=now)


@transaction.atomic
def run_record_success(*, run: ExportRun, upload: Upload | None, duration: float) -> bool:
    """Mark the run done, move the watermark, count the usage: all or nothing, and only if the run is ours."""
    now = clock.now()
    stats = upload.stats if upload else records.StreamStats()
    won = run.succeed(finished_at=now, last_error="" if upload else MSG_NO_EVENTS, event_count=stats.events,
                      bytes_uncompressed=stats.bytes_uncompressed, bytes_compressed=stats.bytes_compressed,
                      object_size=upload.size if upload else 0, sha256=upload.sha256 if upload else "",
                      duration_seconds=duration, object_key=run.object_key if upload else "")
    if not won:
        return False
    if run.kind == RunKind.SCHEDULED:
        _move_watermark(run, now)
    if upload:
        usage_add(tenant_id=run.tenant_id, day=now.date(), events=stats.events, size=upload.size,
                  connection=run.connection)
        ExportConnection.objects.filter(pk=run.connection_id).update(last_file_at=now)
    return True


def run_record_failure(*, run: ExportRun, error: str, duration: float) -> bool:
    """Retry with backoff, the watermark untouched; a re-export gives up after the last delay.
    False when the run is no longer this worker's (its outcome is the other worker's)."""
    if run.kind == RunKind.BACKFILL and run.attempts > len(RETRY_DELAYS):
        return run.fail(error, duration_seconds=duration)
    return run.retry_at(clock.now() + retry_delay(run.attempts), error, duration_seconds=duration)


@transaction.atomic
def run_record_key_expired(*, run: ExportRun, error: str, expired_on: datetime | None, duration: float) -> bool:
    """Retrying cannot help until the operator pastes a current key: the run fails with gpg's reason and
    the connection pauses with it (its events stay unexported: the next file after resume takes them)."""
    if not run.fail(error, duration_seconds=duration):
        return False
    connection = ExportConnection.objects.filter(pk=run.connection_id)
    connection.update(paused=True, paused_reason=error)
    if expired_on:
        # gpg's date, on the connection while it still has this key: Resume then waits for a current one
        connection.filter(pgp_fingerprint=run.pgp_fingerprint).update(pgp_expires_at=expired_on)
    audit_log_write(user=None, action="s3_export.pause", tenant=run.tenant, obj=run.connection,
                    detail={"reason": error, "run": run.pk})
    return True


def _has_events(run: ExportRun) -> bool:
    return records.run_events(run).exists()


def run_execute(*, run_id: int, part_size: int | None = None) -> ExportRun | None:
    """One attempt at one run (what the task does). None when the run is not due or not ours."""
    pending = ExportRun.objects.select_related("connection", "tenant").filter(pk=run_id).first()
    if pending is None or run_blocker(pending):
        return None
    run = claim(ExportRun, run_id, lease=RUN_LEASE)
    if run is None:
        return None
    run.connection, run.tenant = pending.connection, pending.tenant
    started = time.monotonic()
    try:
        run_repoint(run=run)  # the operator changed where files go: this attempt takes all of it fresh
        upload = run_upload(run=run, part_size=part_size) if _has_events(run) else None
    except pgp.PgpKeyExpired as exc:
        run_record_key_expired(run=run, error=str(exc), expired_on=exc.expired_on,
                               duration=time.monotonic() - started)
        return run
    except (s3.S3Error, pgp.PgpError, LeaseLost) as exc:
        run_record_failure(run=run, error=str(exc), duration=time.monotonic() - started)
        return run
    except Exception as exc:
        log.exception("export run %s failed unexpectedly", run_id)
        run_record_failure(run=run, error=f"Unexpected failure ({type(exc).__name__}): {exc}",
                           duration=time.monotonic() - started)
        return run
    run_record_success(run=run, upload=upload, duration=time.monotonic() - started)
    return run
