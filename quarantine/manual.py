"""Manual control of quarantine entries: what operators (and CSMs) do by hand. Every change writes
an audit row (mktops.services.audit_log_write)."""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from mktops import clock
from mktops.services import audit_log_write
from quarantine.addresses import email_domain, normalise
from quarantine.models import (
    Channel,
    ErrorReason,
    ErrorType,
    QuarantineEntry,
    QuarantineSettings,
    Status,
)
from quarantine.rules import soft_threshold, stale_before

# shown before an operator sets an entry Valid, and repeated in the audit row
SET_VALID_WARNING = (
    "Sending to this address again can hurt deliverability and the sending reputation: mailbox "
    "providers count messages to dead addresses against the sender, and enough of them get the "
    "sending IP address or domain blocked. Set it Valid only when you know the address works again."
)
ERR_STATUS = "The status is one of valid, quarantined, denylisted, allowlisted."
ERR_REASON = "The reason is one of " + ", ".join(ErrorReason.values) + ", or empty."
ERR_CHANNEL = "The channel is one of email, sms, push."
ERR_THRESHOLD = "The soft-error threshold is a whole number from 1 to 100."
ERR_SAME_STATUS = "The entry already has this status; nothing was changed."

ACTION_FOR = {
    Status.VALID: "quarantine.entry.set_valid",
    Status.ALLOWLISTED: "quarantine.entry.allowlist",
    Status.DENYLISTED: "quarantine.entry.denylist",
    Status.QUARANTINED: "quarantine.entry.quarantine",
}


def _detail(entry: QuarantineEntry, **more) -> dict:
    return {"channel": entry.channel, "address": entry.address, **more}


@transaction.atomic
def entry_set_status(*, entry: QuarantineEntry, status: str, by, note: str = "") -> QuarantineEntry:
    """Valid (the count is reset; the evidence stays), On allowlist, On denylist, or Quarantined."""
    if status not in Status.values:
        raise ValidationError({"status": ERR_STATUS})
    entry = QuarantineEntry.objects.select_for_update().get(pk=entry.pk)
    if entry.status == status:
        raise ValidationError({"status": ERR_SAME_STATUS})
    before = entry.status
    entry.status = status
    if status == Status.VALID:
        entry.error_count = 0
    if status == Status.QUARANTINED and entry.last_significant_error_at is None:
        # so the 10-day reset has a start
        entry.last_significant_error_at = clock.now()
    entry.save()
    detail = _detail(entry, before=before, after=status, note=note[:500])
    if status == Status.VALID:
        detail["warning_shown"] = SET_VALID_WARNING
    audit_log_write(user=by, action=ACTION_FOR[status], tenant=entry.tenant, obj=entry, detail=detail)
    return entry


def _clean_new(channel: str, address: str, status: str, reason: str) -> str:
    if channel not in Channel.values:
        raise ValidationError({"channel": ERR_CHANNEL})
    value = normalise(channel, address)
    if status not in Status.values:
        raise ValidationError({"status": ERR_STATUS})
    if reason and reason not in ErrorReason.values:
        raise ValidationError({"error_reason": ERR_REASON})
    return value


def entry_upsert(*, tenant, channel: str, address: str, status: str, error_reason: str = "") -> tuple[
        QuarantineEntry, str | None]:
    """Creates or updates the entry of an address added by hand; (entry, status before or None if new).
    Writes no audit row: entry_add and the CSV import write theirs."""
    value = _clean_new(channel, address, status, error_reason)
    now = clock.now()
    with transaction.atomic():
        entry = QuarantineEntry.objects.select_for_update().filter(
            tenant=tenant, channel=channel, address=value).first()
        before = entry.status if entry else None
        if entry is None:
            entry = QuarantineEntry(tenant=tenant, channel=channel, address=value,
                                    domain=email_domain(value) if channel == Channel.EMAIL else "")
        entry.status = status
        if error_reason:
            entry.error_reason = error_reason
            entry.error_type = entry.error_type or ErrorType.HARD
        if status == Status.QUARANTINED:
            entry.last_significant_error_at = entry.last_significant_error_at or now
        if status == Status.VALID:
            entry.error_count = 0
        entry.save()
    return entry, before


def entry_add(*, tenant, channel: str, address: str, status: str, error_reason: str = "", by,
              note: str = "") -> QuarantineEntry:
    entry, before = entry_upsert(tenant=tenant, channel=channel, address=address, status=status,
                                 error_reason=error_reason)
    audit_log_write(user=by, action="quarantine.entry.add", tenant=tenant, obj=entry,
                    detail=_detail(entry, before=before, after=status, reason=error_reason, note=note[:500]))
    return entry


# --- the soft-error threshold -----------------------------------------------------------
@dataclass(frozen=True)
class ThresholdPreview:
    current: int
    proposed: int
    enter: int  # Valid addresses whose soft count reaches the new threshold
    leave: int  # addresses quarantined by soft errors whose count is below it


def _soft_counted(tenant):
    # counts that still hold: the last significant error within 10 days
    return QuarantineEntry.objects.filter(tenant=tenant, error_type=ErrorType.SOFT,
                                          last_significant_error_at__gte=stale_before())


def _check_threshold(value) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({"soft_threshold": ERR_THRESHOLD}) from None
    if not 1 <= number <= 100:
        raise ValidationError({"soft_threshold": ERR_THRESHOLD})
    return number


def threshold_preview(*, tenant, threshold) -> ThresholdPreview:
    proposed = _check_threshold(threshold)
    counted = _soft_counted(tenant)
    return ThresholdPreview(
        current=soft_threshold(tenant), proposed=proposed,
        enter=counted.filter(status=Status.VALID, error_count__gte=proposed).count(),
        leave=QuarantineEntry.objects.filter(tenant=tenant, error_type=ErrorType.SOFT, status=Status.QUARANTINED,
                                             error_count__lt=proposed).count(),
    )


@transaction.atomic
def threshold_set(*, tenant, threshold, by) -> ThresholdPreview:
    """Sets the tenant's threshold and applies it to the addresses the preview counted."""
    preview = threshold_preview(tenant=tenant, threshold=threshold)
    settings_row, _ = QuarantineSettings.objects.select_for_update().get_or_create(tenant=tenant)
    settings_row.soft_threshold = preview.proposed
    settings_row.save()
    _soft_counted(tenant).filter(status=Status.VALID, error_count__gte=preview.proposed).update(
        status=Status.QUARANTINED)
    QuarantineEntry.objects.filter(tenant=tenant, error_type=ErrorType.SOFT, status=Status.QUARANTINED,
                                   error_count__lt=preview.proposed).update(status=Status.VALID)
    audit_log_write(user=by, action="quarantine.threshold.set", tenant=tenant, obj=settings_row, detail={
        "before": preview.current, "after": preview.proposed, "entered": preview.enter, "left": preview.leave})
    return preview
