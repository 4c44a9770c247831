"""Endpoints: create, edit, pause, resume, delete; their secrets: reveal and rotate.

Every change writes an audit row. Bad input raises ValidationError({field: message})
with the messages below (the tests import them).
"""

from __future__ import annotations

import base64
import secrets as _secrets
from datetime import date, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import URLValidator
from django.db import transaction

from mktops import clock, net, roles
from mktops.jobs import ACTIVE, JobStatus, enqueue_on_commit
from mktops.models import Role, Tenant
from mktops.services import audit_log_write
from webhooks.models import EVENT_TYPES, Endpoint, EndpointStatus, Message, SecretReveal

NAME_REQUIRED = "Give the endpoint a name."
URL_INVALID = "Enter a full URL, such as https://crm.example.com/hooks/mktops."
URL_BLOCKED = ("This URL's host is not a public internet address (private, loopback, link-local or "
               "reserved), so mktops will not connect to it. Use your endpoint's public address.")
URL_UNRESOLVED = "This URL's host name does not resolve. Check the spelling, or try again once its DNS is set up."
EVENT_TYPES_REQUIRED = "Choose at least one event type."
EVENT_TYPE_UNKNOWN = "Unknown event type: {type}."
EVENT_TYPE_NOT_BOUGHT = ("{type} belongs to webhook zone {zone}, which this tenant has not bought "
                         "(or whose period has ended). Ask your CSM to enable it.")
QUOTA_REACHED = ("This tenant already has {quota} webhook endpoint(s), its limit. Delete one, "
                 "or ask your CSM to raise the limit.")
REVEAL_OPERATORS_ONLY = "Only an operator of this tenant may reveal the secret."

SECRET_PREFIX = "whsec_"  # noqa: S105 -- the Standard Webhooks prefix, not a secret
ROTATION_OVERLAP = timedelta(hours=24)


def secret_new() -> str:
    """A Standard Webhooks secret: whsec_ and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(_secrets.token_bytes(32)).decode()


# --- zones ------------------------------------------------------------------
def zone_is_active(*, tenant: Tenant, zone: int, today: date | None = None) -> bool:
    """Bought and within its period: enabled, started, and not past the purchase or add-on end."""
    today = today or clock.now().date()
    if not getattr(tenant, f"webhook_zone{zone}_enabled"):
        return False
    start = getattr(tenant, f"webhook_zone{zone}_purchase_start")
    ends = [d for d in (getattr(tenant, f"webhook_zone{zone}_purchase_end"),
                        getattr(tenant, f"webhook_zone{zone}_addon_end")) if d]
    return (start is None or start <= today) and (not ends or today <= max(ends))


def event_types_allowed(*, tenant: Tenant) -> list[str]:
    return [code for code, (zone, _) in EVENT_TYPES.items() if zone_is_active(tenant=tenant, zone=zone)]


# --- validation ---------------------------------------------------------------
def _check_url(url: str) -> None:
    try:
        URLValidator(schemes=["http", "https"])(url)
    except ValidationError:
        raise ValidationError({"url": URL_INVALID}) from None
    try:
        net.url_check(url)
    except net.BlockedAddress:
        raise ValidationError({"url": URL_BLOCKED}) from None
    except net.UnresolvedHost:
        raise ValidationError({"url": URL_UNRESOLVED}) from None
    except net.AddressRefused as exc:  # the scheme (https required), credentials, the port
        raise ValidationError({"url": exc.message}) from None


def _check_event_types(*, tenant: Tenant, event_types) -> list[str]:
    chosen = list(dict.fromkeys(event_types or ()))
    if not chosen:
        raise ValidationError({"event_types": EVENT_TYPES_REQUIRED})
    for code in chosen:
        if code not in EVENT_TYPES:
            raise ValidationError({"event_types": EVENT_TYPE_UNKNOWN.format(type=code)})
        zone = EVENT_TYPES[code][0]
        if not zone_is_active(tenant=tenant, zone=zone):
            raise ValidationError({"event_types": EVENT_TYPE_NOT_BOUGHT.format(type=code, zone=zone)})
    # the table's order, whatever order the form sent
    return [code for code in EVENT_TYPES if code in chosen]


def endpoint_check(*, tenant: Tenant, name: str, url: str, event_types,
                   endpoint: Endpoint | None = None) -> tuple[str, str, list[str]]:
    """The rules of a save, without saving (the admin form shows each beside its field)."""
    if endpoint is None and Endpoint.objects.filter(tenant=tenant).count() >= tenant.webhook_endpoint_quota:
        raise ValidationError({"__all__": QUOTA_REACHED.format(quota=tenant.webhook_endpoint_quota)})
    return _check(tenant=tenant, name=name, url=url, event_types=event_types)


def _check(*, tenant: Tenant, name: str, url: str, event_types) -> tuple[str, str, list[str]]:
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": NAME_REQUIRED})
    url = (url or "").strip()
    _check_url(url)
    return name, url, _check_event_types(tenant=tenant, event_types=event_types)


# --- endpoints ------------------------------------------------------------------
@transaction.atomic
def endpoint_create(*, tenant: Tenant, name: str, url: str, event_types, by) -> Endpoint:
    # the tenant row locked: two creates at once cannot both pass the quota
    tenant = Tenant.objects.select_for_update().get(pk=tenant.pk)
    name, url, types = endpoint_check(tenant=tenant, name=name, url=url, event_types=event_types)
    endpoint = Endpoint.objects.create(tenant=tenant, name=name, url=url, event_types=types, secret=secret_new())
    audit_log_write(user=by, action="webhook_endpoint_create", tenant=tenant, obj=endpoint,
                    detail={"name": name, "url": url, "event_types": types})
    return endpoint


@transaction.atomic
def endpoint_update(*, endpoint: Endpoint, name: str, url: str, event_types, by) -> Endpoint:
    name, url, types = _check(tenant=endpoint.tenant, name=name, url=url, event_types=event_types)
    before = {"name": endpoint.name, "url": endpoint.url, "event_types": endpoint.event_types}
    endpoint.name, endpoint.url, endpoint.event_types = name, url, types
    endpoint.save(update_fields=["name", "url", "event_types"])
    after = {"name": name, "url": url, "event_types": types}
    audit_log_write(user=by, action="webhook_endpoint_update", tenant=endpoint.tenant, obj=endpoint,
                    detail={k: [before[k], after[k]] for k in after if before[k] != after[k]})
    return endpoint


def _set_status(endpoint: Endpoint, status: str, reason: str = "") -> None:
    endpoint.status, endpoint.status_reason, endpoint.status_changed_at = status, reason, clock.now()
    endpoint.save(update_fields=["status", "status_reason", "status_changed_at"])


@transaction.atomic
def endpoint_pause(*, endpoint: Endpoint, by) -> Endpoint:
    """Stop delivering; events that arrive meanwhile are kept (not due) and go out on resume."""
    _set_status(endpoint, EndpointStatus.PAUSED)
    Message.objects.filter(endpoint=endpoint, status__in=(JobStatus.PENDING, JobStatus.RETRYING)) \
        .update(next_attempt_at=None)
    audit_log_write(user=by, action="webhook_endpoint_pause", tenant=endpoint.tenant, obj=endpoint)
    return endpoint


@transaction.atomic
def endpoint_resume(*, endpoint: Endpoint, by) -> int:
    """Deliver again (a disabled endpoint too), the backlog first, in order. Returns the backlog's size."""
    _set_status(endpoint, EndpointStatus.ACTIVE)
    endpoint.failing_since = None
    endpoint.save(update_fields=["failing_since"])
    backlog = Message.objects.filter(endpoint=endpoint, status__in=(JobStatus.PENDING, JobStatus.RETRYING))
    count = backlog.update(next_attempt_at=clock.now())
    audit_log_write(user=by, action="webhook_endpoint_resume", tenant=endpoint.tenant, obj=endpoint,
                    detail={"backlog": count})
    if count:
        enqueue_on_commit("webhooks.tasks.deliver_endpoint", endpoint.pk)
    return count


def backlog_size(*, endpoint: Endpoint) -> int:
    return Message.objects.filter(endpoint=endpoint, status__in=ACTIVE).count()


@transaction.atomic
def endpoint_delete(*, endpoint: Endpoint, by) -> None:
    audit_log_write(user=by, action="webhook_endpoint_delete", tenant=endpoint.tenant, obj=endpoint,
                    detail={"name": endpoint.name, "url": endpoint.url})
    endpoint.delete()


# --- secrets -------------------------------------------------------------------
def may_reveal(*, user, endpoint: Endpoint) -> bool:
    """Operators of the endpoint's tenant only: support never, and platform staff have no need."""
    return roles.role_for(user, endpoint.tenant_id) == Role.OPERATOR


@transaction.atomic
def secret_reveal(*, endpoint: Endpoint, by) -> str:
    if not may_reveal(user=by, endpoint=endpoint):
        raise ValidationError({"__all__": REVEAL_OPERATORS_ONLY})
    SecretReveal.objects.create(tenant=endpoint.tenant, endpoint=endpoint, user=by)
    audit_log_write(user=by, action="webhook_secret_reveal", tenant=endpoint.tenant, obj=endpoint)
    return endpoint.secret


@transaction.atomic
def secret_rotate(*, endpoint: Endpoint, by, keep_old_for_24h: bool) -> Endpoint:
    """A new secret; the old one stops at once, or keeps signing alongside for 24 hours."""
    now = clock.now()
    if keep_old_for_24h:
        endpoint.previous_secret, endpoint.previous_secret_until = endpoint.secret, now + ROTATION_OVERLAP
    else:
        endpoint.previous_secret, endpoint.previous_secret_until = "", None
    endpoint.secret = secret_new()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_until"])
    audit_log_write(user=by, action="webhook_secret_rotate", tenant=endpoint.tenant, obj=endpoint,
                    detail={"old_secret_signs_until": endpoint.previous_secret_until.isoformat()
                            if keep_old_for_24h else None})
    return endpoint
