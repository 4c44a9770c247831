"""The quarantine rules: what a qualified report does to its address, and the daily cleanup.

- a hard error quarantines at once;
- a soft error adds to the count; at the tenant's threshold (default 5) the address is quarantined;
- an ignored error, or a rejection that is the sender's fault, is recorded with the evidence only;
- a spam complaint or an SMS opt-out puts the address On denylist;
- when the last significant error is more than 10 days old the count is reset (Valid again);
- an allowlisted address keeps its status whatever happens, except an opt-out or complaint;
- a denylisted address stays denylisted until an operator changes it.

Two reports for one address at the same moment both count: the entry row is locked
(SELECT … FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Q

from mktops import clock
from quarantine.addresses import email_domain
from quarantine.models import (
    DEFAULT_SOFT_THRESHOLD,
    EVIDENCE_KEEP,
    RESET_AFTER_DAYS,
    Channel,
    EntryDelivery,
    ErrorType,
    QuarantineEntry,
    QuarantineSettings,
    Status,
)
from quarantine.qualify import DELIVERED, DENYLIST, Verdict

# what applying a report did, as the API answer counts it
DUPLICATE = "duplicate"
QUARANTINED = "quarantined"
DENYLISTED = "denylisted"
COUNTED = "counted"
RECORDED = "recorded"  # evidence only: ignored, the sender's fault, or the address is listed by hand
OUTCOMES = (DELIVERED, QUARANTINED, DENYLISTED, COUNTED, RECORDED, DUPLICATE)

RESET_AFTER = timedelta(days=RESET_AFTER_DAYS)
RAW_KEEP = 4000  # characters of a raw text kept as evidence


def soft_threshold(tenant) -> int:
    value = QuarantineSettings.objects.filter(tenant=tenant).values_list("soft_threshold", flat=True).first()
    return value or DEFAULT_SOFT_THRESHOLD


@dataclass(frozen=True)
class Report:
    channel: str
    address: str  # normalised
    provider: str
    delivery_id: str
    time: datetime
    raw: str


def _evidence_item(report: Report, verdict: Verdict) -> dict:
    item = {
        "time": report.time.isoformat(), "provider": report.provider, "delivery_id": report.delivery_id,
        "raw": report.raw[:RAW_KEEP], "type": verdict.error_type, "reason": verdict.error_reason,
        "counted": verdict.counts, "rule": verdict.rule,
    }
    if verdict.message:
        item["message"] = verdict.message
    if verdict.effect == DENYLIST:
        item["effect"] = "denylist"
    return item


def _same_report(a: dict, b: dict) -> bool:
    return all(a.get(k) == b.get(k) for k in ("time", "provider", "delivery_id", "raw"))


def report_seen(*, tenant, report: Report) -> bool:
    """Whether the entry's evidence already holds this report (checked again under the lock when
    applied; looked at first so that a repeated report is not qualified, nor counted in the SMSC table)."""
    evidence = QuarantineEntry.objects.filter(tenant=tenant, channel=report.channel, address=report.address
                                              ).values_list("evidence", flat=True).first()
    item = _evidence_item(report, Verdict(DELIVERED))
    return any(_same_report(item, old) for old in evidence or ())


def report_apply(*, tenant, report: Report, verdict: Verdict, threshold: int | None = None) -> str:
    """Applies one qualified report to its address's entry; returns one of OUTCOMES."""
    if verdict.effect == DELIVERED:
        return DELIVERED
    threshold = threshold or soft_threshold(tenant)
    with transaction.atomic():
        entry = _locked_entry(tenant, report.channel, report.address)
        item = _evidence_item(report, verdict)
        if any(_same_report(item, old) for old in entry.evidence):
            return DUPLICATE  # the sender sent the same report again
        outcome = _apply(entry, report, verdict, threshold)
        entry.evidence = [*entry.evidence, {**item, "outcome": outcome}][-EVIDENCE_KEEP:]
        entry.save()
        if report.delivery_id:
            _delivery_noted(entry, report)
    return outcome


def _delivery_noted(entry: QuarantineEntry, report: Report) -> None:
    """The delivery's report reached this entry (under the entry's lock, so no race on the row)."""
    noted = EntryDelivery.objects.filter(entry=entry, delivery_id=report.delivery_id[:100])
    if not noted.filter(reported_at__lt=report.time).update(reported_at=report.time) and not noted.exists():
        EntryDelivery.objects.create(tenant_id=entry.tenant_id, entry=entry, delivery_id=report.delivery_id[:100],
                                     reported_at=report.time)


def _locked_entry(tenant, channel: str, address: str) -> QuarantineEntry:
    # created first without a lock (a concurrent creator is ignored), then locked: the row
    # exists by then, so both reports of a pair wait for each other instead of one failing
    QuarantineEntry.objects.bulk_create([QuarantineEntry(
        tenant=tenant, channel=channel, address=address,
        domain=email_domain(address) if channel == Channel.EMAIL else "")], ignore_conflicts=True)
    return QuarantineEntry.objects.select_for_update().get(tenant=tenant, channel=channel, address=address)


def _apply(entry: QuarantineEntry, report: Report, verdict: Verdict, threshold: int) -> str:
    at = report.time
    entry.first_error_at = min(filter(None, (entry.first_error_at, at)))
    entry.last_error_at = max(filter(None, (entry.last_error_at, at)))
    entry.last_delivery_id, entry.last_provider = report.delivery_id[:100], report.provider[:100]
    if entry.last_significant_error_at and at - entry.last_significant_error_at > RESET_AFTER:
        _reset(entry)
    if verdict.effect == DENYLIST:
        entry.status = Status.DENYLISTED
        entry.error_type, entry.error_reason = verdict.error_type, verdict.error_reason
        entry.last_significant_error_at = max(filter(None, (entry.last_significant_error_at, at)))
        return DENYLISTED
    if not verdict.counts or verdict.error_type == ErrorType.IGNORED:
        if not entry.error_type:
            entry.error_type, entry.error_reason = ErrorType.IGNORED, verdict.error_reason
        return RECORDED
    entry.error_count += 1
    entry.error_type, entry.error_reason = verdict.error_type, verdict.error_reason
    entry.last_significant_error_at = max(filter(None, (entry.last_significant_error_at, at)))
    if entry.status in (Status.ALLOWLISTED, Status.DENYLISTED):
        return RECORDED
    if entry.status == Status.QUARANTINED:
        return COUNTED
    if verdict.error_type == ErrorType.HARD or entry.error_count >= threshold:
        entry.status = Status.QUARANTINED
        return QUARANTINED
    return COUNTED


def _reset(entry: QuarantineEntry) -> None:
    entry.error_count = 0
    if entry.status == Status.QUARANTINED:
        entry.status = Status.VALID


def stale_before(now: datetime | None = None) -> datetime:
    return (now or clock.now()) - RESET_AFTER


def entries_cleanup(*, now: datetime | None = None) -> dict:
    """The daily job: counts whose last significant error is over 10 days old are reset (a
    quarantined address is Valid again; denylisted and allowlisted ones keep their status), then
    Valid entries whose last error is over 10 days old are removed. A Valid entry with a recent
    error stays, so its evidence can still be read."""
    cutoff = stale_before(now)
    stale = QuarantineEntry.objects.filter(last_significant_error_at__lt=cutoff)
    released = stale.filter(status=Status.QUARANTINED).update(status=Status.VALID, error_count=0)
    stale.filter(error_count__gt=0).update(error_count=0)
    removable = QuarantineEntry.objects.filter(status=Status.VALID).filter(
        Q(last_error_at__lt=cutoff) | Q(last_error_at__isnull=True, updated_at__lt=cutoff))
    removed, _ = removable.delete()
    return {"released": released, "removed": removed}
