"""The bind job: ask the platform who the credentials belong to, and end Bound or Bind failed.

Only the platform's own refusal (`PlatformRefused`) ends in Bind failed. When the platform cannot
be asked (`PlatformUnavailable`: a timeout, a 5xx, a connection error, a rate limit) the row
retries on `RETRY_SCHEDULE` and the channel stays Binding.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta

from django.db import IntegrityError, transaction

from channels.models import CHANNEL_TYPES, BindKind, Channel, ChannelBindJob, ChannelState
from channels.providers import adapter_for
from channels.providers.base import PlatformRefused, PlatformUnavailable
from channels.services.lifecycle import ERR_ACCOUNT_ELSEWHERE, _audit, _set_state, account_taken_message
from mktops import clock
from mktops.errors import OutsideError

log = logging.getLogger(__name__)

# waits between attempts while the platform cannot be asked; the last one repeats
RETRY_SCHEDULE = (timedelta(seconds=30), timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=5),
                  timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=1))
# a Retry-After longer than the schedule is waited for, up to this
RETRY_AFTER_MAX = timedelta(hours=6)

REASON_ACCOUNT_TAKEN = "account_taken"
ERR_UNEXPECTED = "mktops could not finish asking the platform (an error on our side); it will try again."
REASON_OTHER = "refused"

# the troubleshooting checklist shown with every Bind failed (the seed's three checks)
CHECK_PREREQUISITES = "All prerequisites of {type} channels are met: {prerequisite}"
CHECK_NO_PREREQUISITE = "{type} channels have no prerequisite on the platform."
CHECK_ACCOUNT = "The account is active and in good standing on {type}."
CHECK_PERMISSIONS = "The authorisation was granted with every permission it needs."
CHECK_PERMISSIONS_MISSING = "The authorisation was granted with every permission it needs; missing: {names}."


def troubleshooting_checklist(*, channel: Channel) -> list[str]:
    info = CHANNEL_TYPES[channel.channel_type]
    first = (CHECK_PREREQUISITES.format(type=info.label, prerequisite=info.prerequisite) if info.prerequisite
             else CHECK_NO_PREREQUISITE.format(type=info.label))
    missing = channel.missing_permissions
    last = CHECK_PERMISSIONS_MISSING.format(names=", ".join(missing)) if missing else CHECK_PERMISSIONS
    return [first, CHECK_ACCOUNT.format(type=info.label), last]


def retry_wait(attempts: int, retry_after: int | None) -> timedelta:
    wait = RETRY_SCHEDULE[min(max(attempts, 1), len(RETRY_SCHEDULE)) - 1]
    if retry_after:
        wait = max(wait, min(timedelta(seconds=retry_after), RETRY_AFTER_MAX))
    return wait


def _current(job: ChannelBindJob) -> Channel | None:
    """The job's channel, if this job is still the one binding it."""
    return Channel.objects.filter(pk=job.channel_id, state=ChannelState.BINDING,
                                  bind_generation=job.generation).first()


def bind_run(*, job: ChannelBindJob) -> str:
    """One attempt of a claimed job; returns the outcome ("bound", "failed", "retrying", "stale")."""
    channel = _current(job)
    if channel is None:
        job.fail("Nothing to do: the channel is no longer binding with this request.")
        return "stale"
    try:
        account = adapter_for(channel.channel_type).fetch_account(json.loads(channel.credentials or "{}"))
    except PlatformUnavailable as exc:
        job.retry_at(clock.now() + retry_wait(job.attempts, getattr(exc, "retry_after", None)), exc.message)
        return "retrying"
    except PlatformRefused as exc:
        return _failed(job, reason=exc.reason, message=exc.message,
                       missing=list(getattr(exc, "missing_permissions", None) or []))
    except OutsideError as exc:  # any other refusal of an outside system: asking again will not help
        return _failed(job, reason=exc.reason or REASON_OTHER, message=exc.message, missing=[])
    except Exception:
        # a fault of ours: the channel stays Binding and the row is tried again (the traceback has
        # no credentials: they are never in the message of an exception raised here)
        log.exception("bind job %s failed unexpectedly; retrying", job.pk)
        job.retry_at(clock.now() + retry_wait(job.attempts, None), ERR_UNEXPECTED)
        return "retrying"
    return _bound(job, account)


def _failed(job: ChannelBindJob, *, reason: str, message: str, missing: list[str]) -> str:
    with transaction.atomic():
        channel = _locked_current(job)
        if channel is None:
            job.fail("Nothing to do: the channel is no longer binding with this request.")
            return "stale"
        return _mark_failed(channel, job, reason=reason, message=message, missing=missing)


def _locked_current(job: ChannelBindJob) -> Channel | None:
    return Channel.objects.select_for_update().filter(
        pk=job.channel_id, state=ChannelState.BINDING, bind_generation=job.generation).first()


def _mark_failed(channel: Channel, job: ChannelBindJob, *, reason: str, message: str, missing: list[str]) -> str:
    """Binding → Bind failed, on the locked channel, in the caller's transaction."""
    if not job.fail(message):
        return "stale"
    channel.failure_reason, channel.failure_message = reason[:64], message
    channel.missing_permissions = [str(m)[:100] for m in missing][:50]
    channel.account_id = ""
    _set_state(channel, ChannelState.BIND_FAILED, by=None, why=f"The platform refused the bind: {message}")
    channel.save()
    _audit(channel, "channel.bind_failed", by=None, reason=reason)
    return "failed"


def _bound(job: ChannelBindJob, account) -> str:
    with transaction.atomic():
        channel = _locked_current(job)
        if channel is None:
            job.fail("Nothing to do: the channel is no longer binding with this request.")
            return "stale"
        taken = account_taken_message(channel=channel, account_id=account.account_id)
        if taken:
            return _mark_failed(channel, job, reason=REASON_ACCOUNT_TAKEN, message=taken, missing=[])
        details = {str(k): str(v) for k, v in (account.details or {}).items()}
        try:
            with transaction.atomic():
                Channel.objects.filter(pk=channel.pk).update(account_id=account.account_id,
                                                             state=ChannelState.BOUND)
        except IntegrityError:
            # another channel was bound to the same account since the check: the constraint decided
            return _mark_failed(channel, job, reason=REASON_ACCOUNT_TAKEN, missing=[],
                                message=ERR_ACCOUNT_ELSEWHERE.format(type=channel.type_info.label))
        if not job.succeed():
            transaction.set_rollback(True)
            return "stale"
        channel.account_id, channel.account_details = account.account_id, details
        channel.token_expires_at = account.token_expires_at
        channel.granted_scopes = list(account.granted_scopes or ())
        channel.bound_at = clock.now()
        verb = "Rebound" if job.kind == BindKind.REBIND else "Bound"
        _set_state(channel, ChannelState.BOUND, by=None, why=f"{verb}: the platform confirmed the account.",
                   account_id=account.account_id, account_details=details)
        channel.save()
        _audit(channel, "channel.bound", by=None, account_id=account.account_id)
    return "bound"
