"""Writing archive rows to their destination: claim, render, write, record; retries as data.

`archived_messages_deliver(pks=...)` makes exactly one attempt per due row (tests call it
step by step with the clock); `archive.tasks` loops over it. The writes of a batch run in
a few threads, the database work stays on the calling thread.
"""

from __future__ import annotations

import hashlib
import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction

from archive.models import ArchivedMessage, ArchiveSettings, Destination, InternalCopy, Outcome
from archive.services.config import WAITING_REASON
from archive.services.destinations import DeliveryError, Target, destination_write, store_batch, target_for
from archive.services.paths import TemplateError, path_render, path_template_for, path_template_validate
from archive.services.render import attachments_named, content_type_of, message_render
from mktops import clock
from mktops.crypto import decrypt_bytes, encrypt_bytes
from mktops.jobs import JobStatus, claim_many
from mktops.models import Event, Tenant

log = logging.getLogger(__name__)

# the promise in the docs, as data: S3 retries fall at +1 h and +4 h after the first
# attempt; SFTP retries 3 times, 5 seconds apart; then the internal store for 60 days
S3_RETRIES_AFTER_FIRST = (timedelta(hours=1), timedelta(hours=4))
SFTP_RETRIES = (timedelta(seconds=5),) * 3
INTERNAL_STORE_DAYS = 60
WRITE_THREADS = {Destination.SFTP: 2}
DEFAULT_WRITE_THREADS = 8

# a batch's lease follows its real length: a base for the claim and the destination's connection,
# plus a few seconds per message (rendering and one write, bounded by the stores' timeouts), capped
# at the Job default; a killed worker's rows are handed out again after that (sooner when its
# heartbeat stops, mktops.jobs)
LEASE_BASE = timedelta(seconds=30)
LEASE_PER_MESSAGE = timedelta(seconds=3)

ERR_CONTENT_GONE = "The message content is gone (its event was deleted) and no internal copy exists."
MSG_WAITING = ("Waiting for a destination: an operator has not confirmed where the archive goes yet; the "
               "message is kept internally until {until:%Y-%m-%d} and written once the destination is confirmed.")
ERR_RENDER = ("The message could not be turned into a file ({what}); it is kept as received in the internal "
              "store, not written to the destination and not purged.")


def archive_settings_for(*, tenant: Tenant) -> ArchiveSettings:
    cfg, _ = ArchiveSettings.objects.get_or_create(tenant=tenant)
    return cfg


def next_attempt_after_failure(*, row: ArchivedMessage, kind: str):
    """When to try again, or None when the retries are used up."""
    if kind == Destination.SFTP:
        return clock.now() + SFTP_RETRIES[0] if row.attempts <= len(SFTP_RETRIES) else None
    if row.attempts <= len(S3_RETRIES_AFTER_FIRST):
        return row.first_attempt_at + S3_RETRIES_AFTER_FIRST[row.attempts - 1]
    return None


def lease_for(count: int) -> timedelta:
    return min(LEASE_BASE + LEASE_PER_MESSAGE * count, ArchivedMessage.LEASE)


@dataclass
class Prepared:
    row: ArchivedMessage
    target: Target | None = None
    data: bytes = b""
    sha256: str = ""
    error: DeliveryError | None = None
    # the content as received, when it could not be rendered: kept raw, for good
    raw: bytes = b""


def _path_values(row: ArchivedMessage, event: Event | None, tenant: Tenant) -> dict:
    attrs = (event.event_attributes if event else {}) or {}
    return {
        "cid": row.campaign_id, "channel": row.channel, "db_name": tenant.db_name,
        "date": row.event_time.strftime("%Y-%m-%d"), "id": row.message_id,
        "transaction_id": attrs.get("transaction_id"), "time": row.event_time.strftime("%H%M%S"),
        "event_id": row.event_uuid, "alert_id": attrs.get("alert_id"),
    }


def file_key_for(*, row: ArchivedMessage, event: Event | None, cfg: ArchiveSettings) -> str:
    custom = "" if cfg.destination == Destination.PLATFORM else getattr(cfg, f"path_template_{row.channel}")
    template = path_template_for(channel=row.channel, platform=row.platform, custom=custom)
    try:
        path_template_validate(template=template, field=f"{row.channel} file path")
    except TemplateError as exc:  # saved before a rule existed: said, not written under a broken name
        raise DeliveryError("bad_key", str(exc)) from exc
    return path_render(template=template, values=_path_values(row, event, cfg.tenant))


def _rendered(row: ArchivedMessage, event: Event | None, copy: InternalCopy | None, tenant: Tenant,
              prepared: Prepared) -> bytes:
    """The file's bytes: the kept copy, or the event's content rendered now. A render failure is
    a DeliveryError('render_failed') with the raw content on `prepared`."""
    kept_raw = copy is not None and row.failure_reason == "render_failed"
    if copy is not None and not kept_raw:
        return decrypt_bytes(bytes(copy.sealed))
    if event is None or not hasattr(event, "message"):
        if kept_raw:  # nothing to render it from but the content as received: it stays kept
            prepared.raw = decrypt_bytes(bytes(copy.sealed))
            raise DeliveryError("render_failed", row.last_error.split(": ", 1)[-1] or ERR_RENDER.format(
                what="its content does not fit the channel's format"))
        raise DeliveryError("content_gone", ERR_CONTENT_GONE)
    content = event.message.content
    row.stripped_attachments = attachments_named(content) if row.channel == "email" else []
    try:
        return message_render(row=row, event=event, content=content, tenant=tenant)
    except Exception as exc:  # ValueError of the email package (a header it cannot write), a bad type
        log.warning("rendering archive row %s failed", row.pk, exc_info=exc)
        prepared.raw = json.dumps(content, sort_keys=True, ensure_ascii=False).encode()
        raise DeliveryError("render_failed", ERR_RENDER.format(what=_render_words(exc))) from exc


def _render_words(exc: Exception) -> str:
    text = str(exc).lower()
    if "linefeed" in text or "carriage return" in text or "newline" in text:
        return "a header value contains a line break"
    return "its content does not fit the channel's format"


def _prepare(row: ArchivedMessage, event: Event | None, copy: InternalCopy | None,
             cfg: ArchiveSettings) -> Prepared:
    prepared = Prepared(row=row)
    try:
        prepared.data = _rendered(row, event, copy, cfg.tenant, prepared)
        prepared.target = target_for(cfg)
        # a row that never produced a file takes the key of the current template (a re-drive after
        # the template was corrected); a stored row keeps the key its file has
        if row.stored_at is None or row.destination != cfg.destination:
            row.key, row.destination = file_key_for(row=row, event=event, cfg=cfg), cfg.destination
        prepared.sha256 = hashlib.sha256(prepared.data).hexdigest()
    except DeliveryError as err:
        prepared.error = err
    except Exception:  # a bad setting must not leave the row running
        log.exception("preparing archive row %s failed", row.pk)
        prepared.error = DeliveryError("other", "Unexpected failure while preparing the file; platform support "
                                                "has the details in the log.")
    return prepared


def _write(prepared: Prepared) -> Prepared:
    if prepared.error is None:
        try:
            destination_write(target=prepared.target, key=prepared.row.key, data=prepared.data,
                              content_type=content_type_of(prepared.row.channel), sha256=prepared.sha256)
        except DeliveryError as err:
            prepared.error = err
        except Exception as exc:
            log.exception("archive write of row %s failed", prepared.row.pk)
            prepared.error = DeliveryError("other", f"Unexpected failure: {exc}")
    return prepared


def _record_successes(done: list[Prepared], configs: dict, had_copy: set[int]) -> None:
    """The stored rows of a batch, recorded in one transaction (one commit, not one per row).

    Only rows still this worker's are recorded (Job.succeed is guarded): a row whose lease ran
    out and that another worker reclaimed keeps that worker's outcome, and its internal copy."""
    if not done:
        return
    now = clock.now()
    with transaction.atomic():
        won = [p for p in done if p.row.succeed(
            outcome=Outcome.STORED, key=p.row.key, destination=p.row.destination, sha256=p.sha256,
            size=len(p.data), stored_at=now, failure_reason="", held_until=None,
            stripped_attachments=p.row.stripped_attachments)]
        stored_copies = [p.row.pk for p in won if p.row.pk in had_copy]
        if stored_copies:
            InternalCopy.objects.filter(message__in=stored_copies).delete()


def _record_failure(p: Prepared, cfg: ArchiveSettings) -> bool:
    """Retry later, or give up and keep an internal copy; False when the row is no longer ours."""
    row, err = p.row, p.error
    text = f"{err.words}: {err.message}"
    if err.reason == "render_failed":
        return _keep_raw(p, text)
    kind = p.target.kind if p.target else cfg.destination
    when = next_attempt_after_failure(row=row, kind=kind)
    if when is not None:
        return row.retry_at(when, text, failure_reason=err.reason, key=row.key, destination=row.destination)
    with transaction.atomic():
        held_until = row.held_until
        if p.data:
            held_until = held_until or clock.now() + timedelta(days=INTERNAL_STORE_DAYS)
        if not row.fail(text, failure_reason=err.reason, outcome=Outcome.HELD if p.data else Outcome.PURGED,
                        held_until=held_until, key=row.key, destination=row.destination):
            return False
        if p.data:
            InternalCopy.objects.update_or_create(message=row, defaults={"sealed": encrypt_bytes(p.data)})
        return True


def _keep_raw(p: Prepared, text: str) -> bool:
    """A message that cannot be rendered will not render on a retry: kept as received, with no
    end date (held_until stays empty, so the purge never takes it)."""
    with transaction.atomic():
        if not p.row.fail(text, failure_reason="render_failed", outcome=Outcome.HELD, held_until=None,
                          stripped_attachments=p.row.stripped_attachments):
            return False
        InternalCopy.objects.update_or_create(message=p.row, defaults={"sealed": encrypt_bytes(p.raw)})
        return True


def _wait_for_destination(row: ArchivedMessage, event: Event | None, copy: InternalCopy | None,
                          cfg: ArchiveSettings) -> ArchivedMessage:
    """No destination confirmed yet: the message is rendered and kept internally (so it outlives
    its event) and the row waits, not due, until the operator confirms (config.archive_destination_confirm)."""
    p = Prepared(row=row)
    try:
        p.data = _rendered(row, event, copy, cfg.tenant, p)
    except DeliveryError as err:
        p.error = err
        _record_failure(p, cfg)
        return row
    until = row.held_until or clock.now() + timedelta(days=INTERNAL_STORE_DAYS)
    with transaction.atomic():
        # attempts back to 0: the retry policy starts when there is a destination to try
        if row.update_if_ours(status=JobStatus.PENDING, next_attempt_at=None, attempts=0, first_attempt_at=None,
                              lease_until=None, lease_owner="", failure_reason=WAITING_REASON,
                              last_error=MSG_WAITING.format(until=until), held_until=until,
                              stripped_attachments=row.stripped_attachments) and copy is None:
            InternalCopy.objects.update_or_create(message=row, defaults={"sealed": encrypt_bytes(p.data)})
    return row


def archived_messages_deliver(*, pks: list[int]) -> list[ArchivedMessage]:
    """One attempt for each due row in `pks`; rows someone else holds are left alone."""
    rows = claim_many(ArchivedMessage, pks, lease=lease_for(len(pks)))
    if not rows:
        return []
    events = Event.objects.select_related("message").in_bulk([r.event_id for r in rows if r.event_id])
    copies = InternalCopy.objects.in_bulk([r.pk for r in rows])
    configs = {}
    for tenant in Tenant.objects.filter(pk__in={r.tenant_id for r in rows}):
        configs[tenant.pk] = archive_settings_for(tenant=tenant)
        configs[tenant.pk].tenant = tenant  # not fetched again for every message
    waiting = [r for r in rows if configs[r.tenant_id].locked_at is None]
    for r in waiting:
        _wait_for_destination(r, events.get(r.event_id), copies.get(r.pk), configs[r.tenant_id])
    rows = [r for r in rows if configs[r.tenant_id].locked_at is not None]
    kinds = {cfg.destination for cfg in configs.values()}  # what target_for(cfg).kind will be
    threads = min([WRITE_THREADS.get(k, DEFAULT_WRITE_THREADS) for k in kinds] or [1])
    prepared = (_prepare(r, events.get(r.event_id), copies.get(r.pk), configs[r.tenant_id]) for r in rows)
    # one SFTP login per batch (per writer thread), not one per file
    with store_batch():
        if threads > 1 and len(rows) > 1:
            # each message is handed to a writer as soon as it is rendered: this thread
            # renders the next while the writers wait on the destination
            with ThreadPoolExecutor(max_workers=threads) as pool:
                futures = [pool.submit(_write, p) for p in prepared]
                done = [f.result() for f in futures]
        else:
            done = [_write(p) for p in prepared]
    _record_successes([p for p in done if p.error is None], configs, set(copies))
    for p in done:
        if p.error is not None:
            _record_failure(p, configs[p.row.tenant_id])
    return [*waiting, *(p.row for p in done)]
