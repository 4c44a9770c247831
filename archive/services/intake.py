"""From ingested sent events to ArchivedMessage rows: queued, or skipped with a reason.

Called by the events_ingested receiver (one query + one bulk insert per batch) and by
the sweeper, which finds sent events with content but no row (a receiver that failed).
"""

from __future__ import annotations

import uuid

from django.db import connection, transaction

from archive.models import ArchivedMessage, Outcome, SkipReason
from mktops import clock
from mktops.jobs import JobStatus
from mktops.models import SentEvent, SentMessage, Tenant

MAX_CONTENT_BYTES = 250 * 1024


def skip_reason_for(*, tenant: Tenant, channel: str, size: int) -> str:
    if not tenant.archive_enabled:
        return SkipReason.ARCHIVE_OFF
    if not tenant.archives_channel(channel):
        return SkipReason.CHANNEL_OFF
    if tenant.pii_tokenised_sending:
        return SkipReason.PII_TOKENISED
    if size > MAX_CONTENT_BYTES:
        return SkipReason.TOO_LARGE
    return SkipReason.NONE


_FIELDS = ("event_id", "size", "event__event_name", "event__event_uuid", "event__uid",
           "event__campaign_id", "event__event_time")


def _values(tenant: Tenant, found: tuple, now) -> dict | None:
    event_id, size, name, event_uuid, uid, campaign_id, event_time = found
    channel_platform = SentEvent.channel_of(name)
    if channel_platform is None:
        return None
    channel, platform = channel_platform
    reason = skip_reason_for(tenant=tenant, channel=channel, size=size)
    row = {
        "tenant_id": tenant.pk, "event_id": event_id, "message_id": uuid.uuid4().hex, "event_uuid": event_uuid,
        "event_name": name, "channel": channel, "platform": platform or "", "contact_uid": uid,
        "campaign_id": campaign_id, "event_time": event_time, "created_at": now, "attempts": 0,
        "next_attempt_at": None, "finished_at": None, "status": JobStatus.PENDING, "outcome": Outcome.QUEUED,
        "skip_reason": reason,
    }
    if reason:
        row.update(outcome=Outcome.SKIPPED, status=JobStatus.DONE, finished_at=now)
    else:
        row["next_attempt_at"] = now
    return row


# every other column starts empty
_EMPTY = {"lease_until": None, "first_attempt_at": None, "last_attempt_at": None, "last_error": "",
          "stripped_attachments": "[]", "destination": "", "key": "", "sha256": "", "size": None,
          "failure_reason": "", "stored_at": None, "held_until": None}
_DATETIMES = ("event_time", "created_at", "next_attempt_at", "finished_at")


def _insert(rows: list[dict]) -> None:
    """One multi-row INSERT per batch, skipping rows a concurrent sweep already made.

    Written as plain SQL: at ingest time Django's per-value preparation of bulk_create
    cost as much as storing the events themselves."""
    fields = [f for f in ArchivedMessage._meta.concrete_fields if not f.primary_key]
    names = [f.attname for f in fields]
    ops = connection.ops
    columns = ", ".join(ops.quote_name(f.column) for f in fields)
    # identifiers come from the model, values are parameters
    sql = (f"INSERT INTO {ops.quote_name(ArchivedMessage._meta.db_table)} ({columns}) "  # noqa: S608
           f"VALUES ({', '.join(['%s'] * len(fields))}) ON CONFLICT DO NOTHING")
    params = []
    for row in rows:
        values = {**_EMPTY, **row}
        for name in _DATETIMES:
            values[name] = ops.adapt_datetimefield_value(values[name])
        params.append([values[name] for name in names])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def archived_messages_create(*, tenant: Tenant, event_ids: list[int]) -> int:
    """One row per sent event with content; returns how many rows were queued for writing."""
    now = clock.now()
    found = SentMessage.objects.filter(event_id__in=event_ids).values_list(*_FIELDS)
    rows = [r for r in (_values(tenant, values, now) for values in found) if r is not None]
    if rows:
        with transaction.atomic():
            _insert(rows)
    return sum(1 for r in rows if r["outcome"] == Outcome.QUEUED)


def missing_sent_messages(*, limit: int = 1000) -> dict[int, list[int]]:
    """Sent events with content and no archive row, by tenant id."""
    by_tenant: dict[int, list[int]] = {}
    pairs = (SentMessage.objects.filter(event__archived__isnull=True)
             .order_by("event_id").values_list("tenant_id", "event_id")[:limit])
    for tenant_id, event_id in pairs:
        by_tenant.setdefault(tenant_id, []).append(event_id)
    return by_tenant


def archived_messages_backfill(*, limit: int = 1000) -> int:
    created = 0
    for tenant_id, event_ids in missing_sent_messages(limit=limit).items():
        tenant = Tenant.objects.get(pk=tenant_id)
        created += archived_messages_create(tenant=tenant, event_ids=event_ids)
    return created
