"""A channel's life: create, edit, bind, rebind, unbind, delete. Each state change writes a
history row (who, when, from, to, why) and an audit row.

Bad input is a ValidationError({field: message}) with the messages below (the tests import them).
"""

from __future__ import annotations

import json

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction

from channels.models import (
    CHANNEL_TYPES,
    HOLDS_ACCOUNT,
    NAME_MAX,
    REMARKS_MAX,
    BindKind,
    Channel,
    ChannelBindJob,
    ChannelHistory,
    ChannelState,
)
from channels.providers import adapter_for
from mktops import clock
from mktops.jobs import ACTIVE, JobStatus, enqueue_on_commit
from mktops.models import Tenant
from mktops.services import audit_log_write

ERR_TYPE = "Choose one of the channel types: " + ", ".join(i.label for i in CHANNEL_TYPES.values()) + "."
ERR_NAME_REQUIRED = "Give the channel a name."
ERR_NAME_TOO_LONG = "The channel name may be at most {limit} characters; this one has {length}."
ERR_REMARKS_TOO_LONG = "The remarks may be at most {limit} characters; these have {length}."
ERR_PREREQUISITE = "Confirm that the prerequisite of {type} channels is met: {prerequisite}"
ERR_QUOTA = ("This tenant already has {count} channels, its quota of {quota}. A CSM (your account manager) "
             "raises the quota on request.")
ERR_ACCOUNT_IN_TENANT = ("This {type} account is already bound to the channel \"{name}\" ({public_id}). An "
                         "account can be bound to one channel only: bind another account, or have a CSM unbind "
                         "that channel first.")
ERR_ACCOUNT_ELSEWHERE = ("This {type} account is bound elsewhere. An account can be bound to one channel only; "
                         "bind another account.")
ERR_BIND_STATE = ("Only an Unbound or Bind failed channel can be bound (or a Binding one while the platform "
                  "cannot be reached); this one is {state}.")
ERR_REBIND_STATE = "Only a Bound channel can be rebound; this one is {state}."
ERR_UNBIND_STATE = "The channel is Unbound: there is no binding to remove."
ERR_DELETE_STATE = ("The channel is {state}, so it cannot be deleted: it must be unbound first, by a CSM (your "
                    "account manager). Once it is Unbound you can delete it.")
ERR_DELETE_CONFIRM = "Type the channel's name exactly (\"{name}\") to confirm the deletion."
ERR_REASON_TOO_LONG = "The reason may be at most {limit} characters; this one has {length}."
ERR_NUL = "The {field} may not contain the NUL character (\\x00)."

REASON_MAX = 500
# the states an operator may delete from: neither holds a platform account
DELETABLE = (ChannelState.UNBOUND, ChannelState.BIND_FAILED)
# the credential that names the platform identity, where the operator types it: checked for
# uniqueness before the bind is asked; for the others the account is known after the platform answers
IDENTITY_FIELD = {"whatsapp": "phone_number_id", "messenger": "page_id", "instagram": "ig_user_id",
                  "email": "domain"}

BIND_TASK = "channels.tasks.bind_run"


# --- input checks ---------------------------------------------------------------------------------
def _check_text(*, name: str, remarks: str) -> dict:
    # the limits hold for what is kept: surrounding spaces are dropped before saving
    name, remarks = name.strip(), remarks.strip()
    errors = {field: ERR_NUL.format(field=label) for field, label, value in
              (("name", "channel name", name), ("remarks", "remarks", remarks)) if "\x00" in value}
    if errors:
        return errors
    if not name.strip():
        errors["name"] = ERR_NAME_REQUIRED
    elif len(name) > NAME_MAX:
        errors["name"] = ERR_NAME_TOO_LONG.format(limit=NAME_MAX, length=len(name))
    if len(remarks) > REMARKS_MAX:
        errors["remarks"] = ERR_REMARKS_TOO_LONG.format(limit=REMARKS_MAX, length=len(remarks))
    return errors


def channel_check_create(*, channel_type: str, name: str, remarks: str, prerequisite_confirmed: bool) -> None:
    errors = _check_text(name=name, remarks=remarks)
    info = CHANNEL_TYPES.get(channel_type)
    if info is None:
        errors["channel_type"] = ERR_TYPE
    elif info.prerequisite and not prerequisite_confirmed:
        errors["prerequisite_confirmed"] = ERR_PREREQUISITE.format(type=info.label, prerequisite=info.prerequisite)
    if errors:
        raise ValidationError(errors)


def _history(channel: Channel, *, by, from_state: str, to_state: str, why: str, account_id: str = "",
             account_details: dict | None = None) -> ChannelHistory:
    return ChannelHistory.objects.create(
        tenant_id=channel.tenant_id, channel=channel, at=clock.now(),
        by=by if getattr(by, "is_authenticated", False) else None,
        from_state=from_state, to_state=to_state, why=why,
        account_id=account_id, account_details=account_details or {})


def _set_state(channel: Channel, to_state: str, *, by, why: str, account_id: str = "",
               account_details: dict | None = None) -> None:
    from_state = channel.state
    channel.state = to_state
    channel.state_changed_at = clock.now()
    _history(channel, by=by, from_state=from_state, to_state=to_state, why=why, account_id=account_id,
             account_details=account_details)


def _audit(channel: Channel, action: str, *, by, **detail) -> None:
    audit_log_write(user=by, action=action, tenant=channel.tenant, obj=channel,
                    detail={"public_id": channel.public_id, "name": channel.name, **detail})


# --- create and edit ------------------------------------------------------------------------------
def channel_create(*, tenant: Tenant, channel_type: str, name: str, remarks: str = "",
                   prerequisite_confirmed: bool = False, by=None) -> Channel:
    """A new Unbound channel, within the tenant's quota even when two are created at once."""
    channel_check_create(channel_type=channel_type, name=name, remarks=remarks,
                         prerequisite_confirmed=prerequisite_confirmed)
    with transaction.atomic():
        # the tenant row is the quota's lock: a second creation waits here until the first commits
        # (PostgreSQL: FOR UPDATE; SQLite: its IMMEDIATE transactions serialise writers anyway)
        locked = Tenant.objects.select_for_update().get(pk=tenant.pk)
        count = Channel.objects.filter(tenant=locked).count()
        if count >= locked.channel_quota:
            raise ValidationError({NON_FIELD_ERRORS: ERR_QUOTA.format(count=count, quota=locked.channel_quota)})
        now = clock.now()
        channel = Channel.objects.create(
            tenant=locked, channel_type=channel_type, name=name.strip(), remarks=remarks.strip(),
            created_at=now, state_changed_at=now,
            prerequisite_confirmed_at=now if CHANNEL_TYPES[channel_type].prerequisite else None,
            created_by=by if getattr(by, "is_authenticated", False) else None)
        _history(channel, by=by, from_state="", to_state=ChannelState.UNBOUND, why="Created.")
        _audit(channel, "channel.create", by=by, type=channel_type)
    return channel


def channel_edit(*, channel: Channel, name: str, remarks: str, by=None) -> Channel:
    """Name and remarks (not a state change: an audit row, no history row)."""
    errors = _check_text(name=name, remarks=remarks)
    if errors:
        raise ValidationError(errors)
    before = {"name": channel.name, "remarks": channel.remarks}
    channel.name, channel.remarks = name.strip(), remarks.strip()
    changed = [k for k, v in before.items() if getattr(channel, k) != v]
    if changed:
        Channel.objects.filter(pk=channel.pk).update(name=channel.name, remarks=channel.remarks)
        _audit(channel, "channel.edit", by=by, changed=changed, before=before)
    return channel


# --- one account, one channel ---------------------------------------------------------------------
def account_taken_message(*, channel: Channel, account_id: str) -> str | None:
    """Why `account_id` cannot be bound to `channel`, or None when no other channel holds it.

    Within the tenant the holder is named; another tenant's channel is only "elsewhere"."""
    if not account_id:
        return None
    holder = (Channel.objects.filter(channel_type=channel.channel_type, account_id=account_id,
                                     state__in=HOLDS_ACCOUNT).exclude(pk=channel.pk).first())
    if holder is None:
        return None
    label = CHANNEL_TYPES[channel.channel_type].label
    if holder.tenant_id == channel.tenant_id:
        return ERR_ACCOUNT_IN_TENANT.format(type=label, name=holder.name, public_id=holder.public_id)
    return ERR_ACCOUNT_ELSEWHERE.format(type=label)


def provisional_account_id(channel_type: str, credentials: dict) -> str:
    field = IDENTITY_FIELD.get(channel_type)
    value = str(credentials.get(field, "")).strip() if field else ""
    return value.lower() if channel_type == "email" else value


# --- bind and rebind ------------------------------------------------------------------------------
def _clean_credentials(channel_type: str, credentials: dict) -> dict:
    adapter = adapter_for(channel_type)
    names = [f.name for f in adapter.identity_fields]
    cleaned = {name: str(credentials.get(name, "")).strip() for name in names}
    adapter.validate(cleaned)
    return cleaned


def channel_bind(*, channel: Channel, credentials: dict, by=None) -> ChannelBindJob:
    """Unbound or Bind failed → Binding; the bind job asks the platform."""
    return _start_binding(channel=channel, credentials=credentials, by=by, kind=BindKind.BIND)


def channel_rebind(*, channel: Channel, credentials: dict, by=None) -> ChannelBindJob:
    """Bound → Binding with another account of the same type; the old binding stays in the history."""
    return _start_binding(channel=channel, credentials=credentials, by=by, kind=BindKind.REBIND)


def waiting_to_retry(channel: Channel) -> bool:
    """Binding, and its job is waiting because the platform could not be asked (not asking now)."""
    return channel.state == ChannelState.BINDING and channel.bind_jobs.filter(
        generation=channel.bind_generation, status=JobStatus.RETRYING).exists()


def binding_refusal(*, channel: Channel, rebind: bool) -> str | None:
    """Why the channel cannot be bound (rebound) now, or None."""
    if rebind:
        if channel.state != ChannelState.BOUND:
            return ERR_REBIND_STATE.format(state=channel.get_state_display())
        return None
    if channel.state in (ChannelState.UNBOUND, ChannelState.BIND_FAILED) or waiting_to_retry(channel):
        return None
    return ERR_BIND_STATE.format(state=channel.get_state_display())


def _start_binding(*, channel: Channel, credentials: dict, by, kind: str) -> ChannelBindJob:
    cleaned = _clean_credentials(channel.channel_type, credentials)
    identity_field = IDENTITY_FIELD.get(channel.channel_type, NON_FIELD_ERRORS)
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        refusal = binding_refusal(channel=locked, rebind=kind == BindKind.REBIND)
        if refusal:
            raise ValidationError({NON_FIELD_ERRORS: refusal})
        # a bind waiting for an unreachable platform (an SMTP host mistyped) is replaced, not waited for
        ChannelBindJob.objects.filter(channel=locked, status=JobStatus.RETRYING).update(
            status=JobStatus.FAILED, next_attempt_at=None, finished_at=clock.now(),
            last_error="Replaced by a new bind request.")
        account_id = provisional_account_id(locked.channel_type, cleaned)
        taken = account_taken_message(channel=locked, account_id=account_id)
        if taken:
            raise ValidationError({identity_field: taken})
        old_account, old_details = locked.account_id, dict(locked.account_details)
        locked.credentials = json.dumps(cleaned)
        locked.account_id = account_id
        locked.failure_reason, locked.failure_message, locked.missing_permissions = "", "", []
        locked.bind_generation += 1
        if kind == BindKind.REBIND:
            why = f"Rebind requested: the previous binding was to account {old_account or '—'}."
        elif locked.state == ChannelState.BINDING:
            why = "Bind requested again, replacing the request that was waiting for the platform."
        else:
            why = "Bind requested."
        _set_state(locked, ChannelState.BINDING, by=by, why=why,
                   account_id=old_account if kind == BindKind.REBIND else "",
                   account_details=old_details if kind == BindKind.REBIND else None)
        try:
            with transaction.atomic():
                locked.save()
        except IntegrityError:
            # another channel claimed the same account between our check and the save
            raise ValidationError({identity_field: account_taken_message(channel=locked, account_id=account_id)
                                   or ERR_ACCOUNT_ELSEWHERE.format(type=locked.type_info.label)}) from None
        job = ChannelBindJob.objects.create(
            tenant_id=locked.tenant_id, channel=locked, kind=kind, generation=locked.bind_generation,
            next_attempt_at=clock.now(), requested_by=by if getattr(by, "is_authenticated", False) else None)
        _audit(locked, f"channel.{kind}", by=by, account_id=account_id, previous_account_id=old_account)
        enqueue_on_commit(BIND_TASK, job.pk)
    channel.refresh_from_db()
    return job


# --- unbind (CSMs) and delete (operators) ---------------------------------------------------------
def channel_unbind(*, channel: Channel, by=None, reason: str = "") -> Channel:
    """Back to Unbound: the binding and its credentials are dropped, a bind in progress is cancelled."""
    reason = reason.strip()
    if "\x00" in reason:
        raise ValidationError({"reason": ERR_NUL.format(field="reason")})
    if len(reason) > REASON_MAX:
        raise ValidationError({"reason": ERR_REASON_TOO_LONG.format(limit=REASON_MAX, length=len(reason))})
    with transaction.atomic():
        locked = Channel.objects.select_for_update().get(pk=channel.pk)
        if locked.state == ChannelState.UNBOUND:
            raise ValidationError({NON_FIELD_ERRORS: ERR_UNBIND_STATE})
        old_account, old_details = locked.account_id, dict(locked.account_details)
        _set_state(locked, ChannelState.UNBOUND, by=by, why="Unbound by a CSM" + (f": {reason}" if reason else "."),
                   account_id=old_account, account_details=old_details)
        locked.credentials, locked.account_id, locked.account_details = "", "", {}
        locked.granted_scopes, locked.token_expires_at, locked.bound_at = [], None, None
        locked.failure_reason, locked.failure_message, locked.missing_permissions = "", "", []
        # a running bind job finds its generation stale and writes nothing
        locked.bind_generation += 1
        locked.save()
        ChannelBindJob.objects.filter(channel=locked, status__in=ACTIVE).exclude(status=JobStatus.RUNNING).update(
            status=JobStatus.FAILED, next_attempt_at=None, finished_at=clock.now(),
            last_error="Cancelled: the channel was unbound.")
        _audit(locked, "channel.unbind", by=by, account_id=old_account, reason=reason)
    channel.refresh_from_db()
    return channel


def channel_check_delete(*, channel: Channel) -> None:
    if channel.state not in DELETABLE:
        raise ValidationError({NON_FIELD_ERRORS: ERR_DELETE_STATE.format(state=channel.get_state_display())})


def channel_delete(*, channel: Channel, confirm_name: str, by=None) -> None:
    """Irreversible: only a channel that holds no account, after its name is typed; audited."""
    with transaction.atomic():
        locked = Channel.objects.select_for_update().filter(pk=channel.pk).first()
        if locked is None:
            return
        channel_check_delete(channel=locked)
        if confirm_name != locked.name:
            raise ValidationError({"confirm_name": ERR_DELETE_CONFIRM.format(name=locked.name)})
        # the history goes with the channel: the audit row keeps it
        history = [{"at": h.at.isoformat(), "by": h.by.get_username() if h.by else "", "from": h.from_state,
                    "to": h.to_state, "why": h.why, "account_id": h.account_id}
                   for h in locked.history.select_related("by").order_by("at", "id")[:200]]
        _audit(locked, "channel.delete", by=by, type=locked.channel_type, state=locked.state, history=history)
        locked.delete()
