"""Health of Bound channels: a scheduled check per channel, its history, and what the pages show.

- `health_checks_schedule` (the periodic sweep, `channels.health_tasks.health_sweep`) creates one pending
  `ChannelHealthCheck` row for every Bound channel whose last check is `CHECK_EVERY` old and that has none
  waiting; `health_check_run` does one claimed row: asks the platform (`fetch_account`) and records the
  state, WhatsApp's quality rating, messaging tier and status, and the token's expiry.
- A check that cannot reach the platform (`PlatformUnavailable`) is recorded as failed and never changes
  the channel's state; nor does a refusal (the CSM decides about an unbind). The check that makes it
  `ALERT_AFTER` failed checks in a row raises the alert: an audit row and a warning in the log, and the
  channel's summary says so until a check succeeds.
- Highlighted: a drop in quality (or RED), a tier change, a status other than CONNECTED, a different
  account answering for the same credentials, and a token that expires within `TOKEN_WARNING`.
- `health_summary(channel)` is what the channel page and the changelist show.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import transaction
from django.db.models import F, Window
from django.db.models.functions import RowNumber

from channels.models import Channel, ChannelHealthCheck, ChannelState, HealthState
from channels.providers import PlatformRefused, PlatformUnavailable, adapter_for
from mktops import clock, ratelimit
from mktops.jobs import ACTIVE, JobStatus, enqueue_on_commit
from mktops.services import audit_log_write

log = logging.getLogger(__name__)

CHECK_EVERY = timedelta(hours=1)
ALERT_AFTER = 3  # failed checks in a row
TOKEN_WARNING = timedelta(days=14)
CHANGES_SHOWN_FOR = timedelta(days=7)  # a quality drop or tier change stays highlighted this long
HISTORY_SHOWN = 50
KEEP_CHECKS = timedelta(days=90)  # a check row per channel each hour: older ones are purged
PURGE_BATCH = 5000

QUALITY_RANK = {"GREEN": 3, "YELLOW": 2, "RED": 1}
CONNECTED = "CONNECTED"
AUDIT_ALERT = "channels.health.alert"
AUDIT_RECOVERED = "channels.health.recovered"
AUDIT_CHECK_NOW = "channels.health.check_now"

HL_QUALITY_DROP = "Quality rating dropped from {old} to {new}."
HL_QUALITY_RED = "Quality rating is RED: Meta may lower the messaging limit or restrict the number."
HL_TIER_CHANGE = "Messaging tier changed from {old} to {new}."
HL_STATUS = "Meta reports the number's status as {status}, not connected: it may not be able to send."
HL_EXPIRES_SOON = ("The access token expires on {date} (in {days} day(s)). Generate a new token and rebind the "
                   "channel before then.")
HL_EXPIRED = "The access token expired on {date}. Generate a new token and rebind the channel."
HL_ACCOUNT = ("The platform now answers with another account ({new}) for these credentials than the one bound "
              "({old}). Rebind the channel to the account it should send from.")
MSG_HEALTHY = "The platform answered and reports nothing to look at."
MSG_ALERT = ("The last {count} health checks failed in a row. The channel stays Bound; check the platform's "
             "status and the channel's credentials.")
MSG_NOT_BOUND = "Only Bound channels are checked."
MSG_CHECK_REQUESTED = "A health check was requested; it runs in a moment: reload this page to see it."
MSG_CHECK_WAITING = "A health check is already waiting to run; reload this page in a moment to see it."
MSG_NOT_CHECKED = "Not checked yet: the first check runs within the hour after binding."


# --- scheduling ------------------------------------------------------------------------------------
def health_checks_schedule(*, now: datetime | None = None) -> list[int]:
    """Pending check rows for the Bound channels that are due; returns their ids."""
    now = now or clock.now()
    waiting = ChannelHealthCheck.objects.filter(status__in=ACTIVE).values("channel_id")
    recent = ChannelHealthCheck.objects.filter(created_at__gt=now - CHECK_EVERY).values("channel_id")
    due = (Channel.objects.filter(state=ChannelState.BOUND).exclude(pk__in=waiting).exclude(pk__in=recent)
           .values_list("pk", "tenant_id"))
    rows = [ChannelHealthCheck(channel_id=pk, tenant_id=tenant_id, created_at=now, next_attempt_at=now)
            for pk, tenant_id in due]
    with transaction.atomic():
        created = ChannelHealthCheck.objects.bulk_create(rows, batch_size=500)
    return [row.pk for row in created]


def health_checks_purge(*, now: datetime | None = None) -> int:
    """Delete finished checks older than KEEP_CHECKS (a batch per call: the sweep runs often)."""
    cutoff = (now or clock.now()) - KEEP_CHECKS
    old = list(ChannelHealthCheck.objects.filter(status__in=(JobStatus.DONE, JobStatus.FAILED),
                                                 created_at__lt=cutoff).values_list("pk", flat=True)[:PURGE_BATCH])
    if not old:
        return 0
    return ChannelHealthCheck.objects.filter(pk__in=old).delete()[0]


def health_check_request(*, channel: Channel, now: datetime | None = None) -> ChannelHealthCheck | None:
    """A check of `channel` as soon as possible (a new Bound channel, an operator's "Check now"),
    unless one is waiting already."""
    now = now or clock.now()
    if channel.state != ChannelState.BOUND:
        return None
    with transaction.atomic():
        Channel.objects.select_for_update().filter(pk=channel.pk).first()
        if ChannelHealthCheck.objects.filter(channel=channel, status__in=ACTIVE).exists():
            return None
        return ChannelHealthCheck.objects.create(channel=channel, tenant_id=channel.tenant_id, created_at=now,
                                                 next_attempt_at=now)


def health_check_now(*, channel: Channel, by=None) -> ChannelHealthCheck | None:
    """An operator's "Check now": a check row, run by a worker at once; None when one is waiting.
    Limited per tenant like every connection test: each one is a call to the platform."""
    if channel.state != ChannelState.BOUND:
        raise ValidationError({NON_FIELD_ERRORS: MSG_NOT_BOUND})
    try:
        attempt = ratelimit.attempt_start(tenant=channel.tenant, action=AUDIT_CHECK_NOW, what="health checks",
                                          user=by, obj=channel)
    except ratelimit.RateLimited as err:
        raise ValidationError({NON_FIELD_ERRORS: err.message}) from err
    check = health_check_request(channel=channel)
    ratelimit.attempt_finish(attempt, check_id=check.pk if check else None)
    if check is not None:
        enqueue_on_commit("channels.health_tasks.health_check", check.pk)
    return check


# --- one check -------------------------------------------------------------------------------------
def health_check_run(*, check: ChannelHealthCheck) -> str:
    """One claimed check: ask the platform and record the outcome on the row; returns its state."""
    channel = Channel.objects.filter(pk=check.channel_id).first()
    if channel is None or channel.state != ChannelState.BOUND:
        check.succeed(checked_at=clock.now(), state="", message=MSG_NOT_BOUND)
        return "skipped"
    now = clock.now()
    try:
        account = adapter_for(channel.channel_type).fetch_account(json.loads(channel.credentials or "{}"))
    except PlatformUnavailable as exc:
        return _record_failure(check, channel, HealthState.UNREACHABLE, exc.reason, exc.message, now)
    except PlatformRefused as exc:
        return _record_failure(check, channel, HealthState.REFUSED, exc.reason, exc.message, now)
    details = account.details
    previous = _previous_success(check)
    highlights = _highlights(channel, previous, details, account.account_id, account.token_expires_at, now)
    won = check.succeed(
        checked_at=now, state=HealthState.ATTENTION if highlights else HealthState.HEALTHY,
        quality_rating=details.get("quality_rating", "")[:16],
        messaging_tier=details.get("messaging_limit_tier", "")[:32],
        platform_status=details.get("status", "")[:32], token_expires_at=account.token_expires_at,
        reason="", message=MSG_HEALTHY if not highlights else " ".join(h["text"] for h in highlights),
        highlights=highlights)
    if won and _failures_before(check) >= ALERT_AFTER:
        audit_log_write(user=None, action=AUDIT_RECOVERED, tenant=channel.tenant, obj=channel, detail={})
    return check.state if won else "lost"


def _record_failure(check, channel, state, reason, message, now) -> str:
    if not check.succeed(checked_at=now, state=state, reason=reason, message=message, highlights=[]):
        return "lost"
    in_a_row = failed_in_a_row(channel)
    if in_a_row == ALERT_AFTER:  # exactly the check that made it ALERT_AFTER: one alert per streak
        check.alerted = True
        ChannelHealthCheck.objects.filter(pk=check.pk).update(alerted=True)
        audit_log_write(user=None, action=AUDIT_ALERT, tenant=channel.tenant, obj=channel,
                        detail={"failed_in_a_row": in_a_row, "reason": reason})
        log.warning("channel %s: %d health checks failed in a row (%s)", channel.public_id, in_a_row, reason)
    return state


def _completed(channel_id: int):
    return (ChannelHealthCheck.objects.filter(channel_id=channel_id, status=JobStatus.DONE)
            .exclude(state="").order_by("-checked_at", "-id"))


FAILED_STATES = (HealthState.REFUSED, HealthState.UNREACHABLE)


def _leading_failures(states) -> int:
    """How many of `states` (newest first) are failures before the first success."""
    return next((i for i, state in enumerate(states) if state not in FAILED_STATES), len(states))


def failed_in_a_row(channel: Channel) -> int:
    """How many of the channel's latest completed checks failed, up to its last success."""
    return _leading_failures(list(_completed(channel.pk).values_list("state", flat=True)[:100]))


def _failures_before(check: ChannelHealthCheck) -> int:
    return _leading_failures(list(_completed(check.channel_id).exclude(pk=check.pk)
                                  .values_list("state", flat=True)[:100]))


def _previous_success(check: ChannelHealthCheck) -> ChannelHealthCheck | None:
    return (_completed(check.channel_id).exclude(pk=check.pk)
            .filter(state__in=(HealthState.HEALTHY, HealthState.ATTENTION)).first())


def _highlights(channel: Channel, previous: ChannelHealthCheck | None, details: dict, account_id: str,
                token_expires_at: datetime | None, now: datetime) -> list[dict]:
    """What to look at, compared with the last successful check (or what the bind found)."""
    bound = channel.account_details or {}
    old_quality = previous.quality_rating if previous else bound.get("quality_rating", "")
    old_tier = previous.messaging_tier if previous else bound.get("messaging_limit_tier", "")
    quality, tier, status = (details.get(k, "") for k in ("quality_rating", "messaging_limit_tier", "status"))
    found = []
    if quality and old_quality and QUALITY_RANK.get(quality, 0) < QUALITY_RANK.get(old_quality, 0):
        found.append({"kind": "quality_drop", "text": HL_QUALITY_DROP.format(old=old_quality, new=quality)})
    elif quality == "RED":
        found.append({"kind": "quality_red", "text": HL_QUALITY_RED})
    if tier and old_tier and tier != old_tier:
        found.append({"kind": "tier_change", "text": HL_TIER_CHANGE.format(old=old_tier, new=tier)})
    if status and status.upper() != CONNECTED:
        found.append({"kind": "status", "text": HL_STATUS.format(status=status)})
    if channel.account_id and account_id and account_id != channel.account_id:
        found.append({"kind": "account_changed", "text": HL_ACCOUNT.format(old=channel.account_id, new=account_id)})
    token = token_warning(token_expires_at, now)
    if token:
        found.append({"kind": "token_expiry", "text": token})
    return found


def token_warning(expires_at: datetime | None, now: datetime) -> str:
    """The warning for a token that expires within TOKEN_WARNING (or has expired), else ""."""
    if expires_at is None or expires_at - now > TOKEN_WARNING:
        return ""
    if expires_at <= now:
        return HL_EXPIRED.format(date=f"{expires_at:%Y-%m-%d}")
    days = max(1, (expires_at - now).days)
    return HL_EXPIRES_SOON.format(date=f"{expires_at:%Y-%m-%d}", days=days)


# --- what the pages show ---------------------------------------------------------------------------
def health_history(*, channel: Channel, limit: int = HISTORY_SHOWN) -> list[ChannelHealthCheck]:
    return list(_completed(channel.pk).exclude(state="")[:limit])


# the latest completed checks a summary reads: enough for the changes of the last days (up to
# HISTORY_SHOWN besides the last success); a longer streak or an older success is looked up
SUMMARY_ROWS = HISTORY_SHOWN + 1


def health_summaries(channels) -> dict[int, dict]:
    """`health_summary` of each channel, by pk, with one query for all their latest checks
    (the changelist: a handful of queries per Bound row otherwise)."""
    channels = list(channels)
    bound = [c.pk for c in channels if c.state == ChannelState.BOUND]
    recent: dict[int, list[ChannelHealthCheck]] = {pk: [] for pk in bound}
    if bound:
        rank = Window(RowNumber(), partition_by=F("channel_id"), order_by=[F("checked_at").desc(), F("id").desc()])
        rows = (ChannelHealthCheck.objects.filter(channel_id__in=bound, status=JobStatus.DONE).exclude(state="")
                .annotate(rank=rank).filter(rank__lte=SUMMARY_ROWS).order_by("channel_id", "rank"))
        for check in rows:
            recent[check.channel_id].append(check)
    return {c.pk: health_summary(c, recent=recent.get(c.pk)) for c in channels}


def health_summary(channel: Channel, *, recent: list[ChannelHealthCheck] | None = None) -> dict:
    """The channel's health as the channel page and the changelist show it. `recent`: its latest
    completed checks, newest first, SUMMARY_ROWS at most (read here when not given).

    {"state": healthy | attention | refused | unreachable | unchecked | not_bound, "label", "ok" (bool),
     "highlighted" (bool), "last_checked_at", "quality_rating", "messaging_tier", "platform_status",
     "token_expires_at", "failed_in_a_row", "alert" (bool), "highlights" [sentences], "message"}"""
    now = clock.now()
    empty = {"last_checked_at": None, "quality_rating": "", "messaging_tier": "", "platform_status": "",
             "token_expires_at": channel.token_expires_at, "failed_in_a_row": 0, "alert": False, "highlights": []}
    if channel.state != ChannelState.BOUND:
        return {**empty, "state": "not_bound", "label": "Not bound", "ok": False, "highlighted": False,
                "message": MSG_NOT_BOUND}
    if recent is None:
        recent = list(_completed(channel.pk)[:SUMMARY_ROWS])
    every = len(recent) < SUMMARY_ROWS  # recent holds all its checks
    latest = recent[0] if recent else None
    if latest is None:
        warning = token_warning(channel.token_expires_at, now)
        return {**empty, "state": "unchecked", "label": "Not checked yet", "ok": True, "highlighted": bool(warning),
                "highlights": [warning] if warning else [], "message": MSG_NOT_CHECKED}
    succeeded = (HealthState.HEALTHY, HealthState.ATTENTION)
    success = next((c for c in recent if c.state in succeeded), None)
    if success is None and not every:
        success = _completed(channel.pk).filter(state__in=succeeded).first()
    in_a_row = _leading_failures([c.state for c in recent])
    if in_a_row == len(recent) and not every:
        in_a_row = failed_in_a_row(channel)
    highlights = _summary_highlights(channel, latest, success, in_a_row, now, recent)
    return {
        "state": latest.state, "label": latest.get_state_display(), "ok": not latest.failed,
        "highlighted": bool(highlights) or latest.state == HealthState.REFUSED,
        "last_checked_at": latest.checked_at,
        "quality_rating": success.quality_rating if success else "",
        "messaging_tier": success.messaging_tier if success else "",
        "platform_status": success.platform_status if success else "",
        "token_expires_at": (success.token_expires_at if success and success.token_expires_at
                             else channel.token_expires_at),
        "failed_in_a_row": in_a_row, "alert": in_a_row >= ALERT_AFTER,
        "highlights": highlights, "message": latest.message,
    }


def _summary_highlights(channel, latest, success, in_a_row, now, recent) -> list[str]:
    found = []
    if in_a_row >= ALERT_AFTER:
        found.append(MSG_ALERT.format(count=in_a_row))
    if latest.state == HealthState.REFUSED:
        found.append(latest.message)
    # the latest answer's highlights, then changes of the last days that are not already said
    if success is not None:
        found += [h["text"] for h in success.highlights if h.get("kind") != "token_expiry"]
        since = now - CHANGES_SHOWN_FOR
        # the checks since then are the first of `recent` (newest first), HISTORY_SHOWN of them at most
        changes = [c for c in recent if c.checked_at >= since and c.pk != success.pk][:HISTORY_SHOWN]
        for check in changes:
            for h in check.highlights:
                text = f"{check.checked_at:%Y-%m-%d}: {h['text']}"
                if h.get("kind") in ("quality_drop", "tier_change") and text not in found:
                    found.append(text)
    expires = success.token_expires_at if success and success.token_expires_at else channel.token_expires_at
    warning = token_warning(expires, now)  # counted from now, not from when the check ran
    if warning:
        found.append(warning)
    return found
