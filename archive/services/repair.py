"""What CSMs repair and what the settings page reports: re-delivery, the internal store's
purge, the last failures, the completeness report."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Q

from archive.models import ArchivedMessage, InternalCopy, Outcome, SkipReason
from mktops import clock, roles
from mktops.jobs import ACTIVE, JobStatus, enqueue_on_commit
from mktops.models import SentEvent, SentMessage, Tenant
from mktops.services import audit_log_write

ERR_NOT_HELD = "Only messages that were not delivered can be re-delivered; this one is {outcome}."

_REDELIVERABLE = Q(outcome=Outcome.HELD) & ~Q(status__in=ACTIVE)


def _requeue(qs) -> list[int]:
    ids = list(qs.values_list("pk", flat=True))
    ArchivedMessage.objects.filter(pk__in=ids).update(
        status=JobStatus.PENDING, next_attempt_at=clock.now(), attempts=0, first_attempt_at=None,
        finished_at=None, lease_until=None)
    return ids


def archived_message_redeliver(*, message: ArchivedMessage, by=None) -> None:
    if not ArchivedMessage.objects.filter(_REDELIVERABLE, pk=message.pk).exists():
        raise ValidationError(ERR_NOT_HELD.format(outcome=message.get_outcome_display().lower()))
    _requeue(ArchivedMessage.objects.filter(pk=message.pk))
    audit_log_write(user=by, action="archive.redeliver", tenant=message.tenant, obj=message)


def archived_messages_redeliver_all(*, tenant: Tenant, by=None) -> list[int]:
    ids = _requeue(ArchivedMessage.objects.filter(_REDELIVERABLE, tenant=tenant))
    audit_log_write(user=by, action="archive.redeliver_all", tenant=tenant, detail={"count": len(ids)})
    return ids


DELIVER_TASK = "archive.tasks.deliver"
# waiting for an attempt: a retry's time, or a queued row not yet written
_WAITING = Q(status__in=(JobStatus.RETRYING, JobStatus.PENDING))


def archived_messages_retry_now(*, messages, by) -> list[int]:
    """Make the given rows that wait for an attempt due now and hand them to a worker at commit.

    Operators of the rows' tenants and CSMs may (support may not: PermissionDenied); rows running or
    finished are left alone. One audit row per tenant. Returns the ids made due."""
    messages = list(messages)
    tenants = {m.tenant_id: m.tenant for m in messages}
    if not all(roles.is_csm(by) or roles.is_operator_of(by, tenant_id) for tenant_id in tenants):
        raise PermissionDenied
    with transaction.atomic():
        waiting = ArchivedMessage.objects.select_for_update().filter(_WAITING, pk__in=[m.pk for m in messages])
        rows = list(waiting.values_list("pk", "tenant_id"))
        ids = [pk for pk, _ in rows]
        ArchivedMessage.objects.filter(_WAITING, pk__in=ids).update(next_attempt_at=clock.now())
        for tenant_id, tenant in tenants.items():
            mine = [pk for pk, t in rows if t == tenant_id]
            if mine:
                audit_log_write(user=by, action="archive.retry_now", tenant=tenant,
                                detail={"count": len(mine), "ids": mine})
        if ids:
            enqueue_on_commit(DELIVER_TASK, ids)
    return ids


def internal_copies_purge(*, now=None) -> int:
    """Delete internal copies held past their 60 days; the rows stay as 'purged'."""
    now = now or clock.now()
    expired = ArchivedMessage.objects.filter(outcome=Outcome.HELD, held_until__lte=now).exclude(status__in=ACTIVE)
    ids = list(expired.values_list("pk", flat=True)[:5000])
    InternalCopy.objects.filter(message_id__in=ids).delete()
    ArchivedMessage.objects.filter(pk__in=ids).update(outcome=Outcome.PURGED)
    return len(ids) + _waiting_purge(now)


ERR_NEVER_CONFIRMED = ("Not delivered: no destination was confirmed within {days} days, so the internal copy "
                       "was purged.")


def _waiting_purge(now) -> int:
    """Messages that waited for a destination are kept as long as an internal copy is, then purged."""
    from archive.services.config import WAITING_REASON
    from archive.services.delivery import INTERNAL_STORE_DAYS

    expired = ArchivedMessage.objects.filter(outcome=Outcome.QUEUED, failure_reason=WAITING_REASON,
                                             status=JobStatus.PENDING, next_attempt_at__isnull=True,
                                             held_until__lte=now)
    ids = list(expired.values_list("pk", flat=True)[:5000])
    InternalCopy.objects.filter(message_id__in=ids).delete()
    ArchivedMessage.objects.filter(pk__in=ids, status=JobStatus.PENDING, next_attempt_at__isnull=True).update(
        outcome=Outcome.PURGED, status=JobStatus.FAILED, finished_at=now,
        last_error=ERR_NEVER_CONFIRMED.format(days=INTERNAL_STORE_DAYS))
    return len(ids)


def last_failures(*, tenant: Tenant, limit: int = 10):
    return (ArchivedMessage.objects.filter(tenant=tenant).exclude(last_error="")
            .exclude(outcome=Outcome.STORED).order_by("-last_attempt_at")[:limit])


# --- completeness -----------------------------------------------------------------------------
def _day_bounds(day_from: date, day_to: date):
    return (datetime.combine(day_from, time.min, tzinfo=UTC),
            datetime.combine(day_to + timedelta(days=1), time.min, tzinfo=UTC))


def completeness_report(*, tenant: Tenant, day_from: date, day_to: date) -> list[dict]:
    """Per day and channel: sent (events with content, while retained), archived, skipped by
    reason, held/failed, queued, and missing (sent events with no archive row)."""
    start, end = _day_bounds(day_from, day_to)
    table: dict = defaultdict(lambda: {"sent": 0, "stored": 0, "queued": 0, "held": 0, "purged": 0,
                                       "skipped": defaultdict(int), "missing": 0})
    rows = (ArchivedMessage.objects.filter(tenant=tenant, event_time__gte=start, event_time__lt=end)
            .values("event_time__date", "channel", "outcome", "skip_reason").annotate(n=Count("id")))
    for r in rows:
        cell = table[(r["event_time__date"], r["channel"])]
        if r["outcome"] == Outcome.SKIPPED:
            cell["skipped"][r["skip_reason"]] += r["n"]
        else:
            cell[r["outcome"]] += r["n"]
    sent = (SentMessage.objects.filter(tenant=tenant, event__event_time__gte=start, event__event_time__lt=end)
            .values("event__event_time__date", "event__event_name")
            .annotate(n=Count("event_id"), missing=Count("event_id", filter=Q(event__archived__isnull=True))))
    for r in sent:
        channel = (SentEvent.channel_of(r["event__event_name"]) or ("other",))[0]
        cell = table[(r["event__event_time__date"], channel)]
        cell["sent"] += r["n"]
        cell["missing"] += r["missing"]
    return [{"day": day, "channel": channel, **cell, "skipped": dict(cell["skipped"]),
             "skipped_words": _reasons_in_words(cell["skipped"]), "skipped_total": sum(cell["skipped"].values())}
            for (day, channel), cell in sorted(table.items(), key=lambda kv: (kv[0][0], kv[0][1]), reverse=True)]


def _reasons_in_words(counts: dict) -> list[tuple[str, int]]:
    """(the reason as a sentence, count) for each skip reason code."""
    return [(SkipReason(code).label if code in SkipReason.values else code, n) for code, n in sorted(counts.items())]


FAILURES_SHOWN = 100


def completeness_failures(*, tenant: Tenant, day_from: date, day_to: date, limit: int = FAILURES_SHOWN):
    """The range's messages that are not stored because a write failed: held, purged, or waiting
    for a retry; newest first, at most `limit`."""
    start, end = _day_bounds(day_from, day_to)
    failed = Q(outcome__in=(Outcome.HELD, Outcome.PURGED)) | Q(status=JobStatus.RETRYING)
    return list(ArchivedMessage.objects.filter(failed, tenant=tenant, event_time__gte=start, event_time__lt=end)
                .order_by("-event_time", "-id")[:limit])


def completeness_redrive(*, tenant: Tenant, day_from: date, day_to: date, by=None) -> dict:
    """Close the gaps: create rows for sent events that have none, re-deliver held ones."""
    from archive.services.intake import archived_messages_create

    start, end = _day_bounds(day_from, day_to)
    missing = list(SentMessage.objects.filter(
        tenant=tenant, event__event_time__gte=start, event__event_time__lt=end, event__archived__isnull=True,
    ).values_list("event_id", flat=True)[:10000])
    queued = archived_messages_create(tenant=tenant, event_ids=missing) if missing else 0
    held = _requeue(ArchivedMessage.objects.filter(_REDELIVERABLE, tenant=tenant, event_time__gte=start,
                                                   event_time__lt=end))
    audit_log_write(user=by, action="archive.redrive", tenant=tenant,
                    detail={"missing": len(missing), "redelivered": len(held)})
    return {"created": len(missing), "queued": queued, "redelivered": len(held)}
