"""Business rules of the core, called by admin actions, the API, commands and tasks."""

import secrets

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction

from mktops import clock
from mktops.models import ApiKey, AuditLog, EntitlementChange, Membership, Role, Tenant

ERR_ROLE_NEEDS_TENANT = "Operators and customer support belong to a tenant: give --tenant."
ERR_CSM_HAS_NO_TENANT = "A CSM works across all tenants: do not give --tenant."
ERR_UNKNOWN_ROLE = "Role must be one of: operator, support, csm."


def audit_log_write(*, user, action: str, tenant: Tenant | None = None, obj=None,
                    detail: dict | None = None) -> AuditLog:
    return AuditLog.objects.create(
        tenant=tenant,
        user=user if getattr(user, "is_authenticated", False) else None,
        action=action,
        object_type=obj._meta.label if obj is not None else "",
        object_id=str(obj.pk) if obj is not None else "",
        detail=detail or {},
    )


def tenant_create(*, slug: str, name: str, db_name: str | None = None, app_name: str = "") -> Tenant:
    tenant = Tenant(slug=slug, name=name, db_name=db_name or slug.replace("-", "_"), app_name=app_name or name)
    tenant.full_clean()
    tenant.save()
    return tenant


def _as_text(value) -> str:
    return "" if value is None else str(value)


@transaction.atomic
def tenant_save_entitlements(*, tenant: Tenant, before: dict, by) -> list[EntitlementChange]:
    """Record every entitlement that differs from `before` (the values read before the edit)."""
    changes = [
        EntitlementChange(
            tenant=tenant, changed_by=by if getattr(by, "is_authenticated", False) else None,
            field=field, old_value=_as_text(before.get(field)), new_value=_as_text(getattr(tenant, field)),
        )
        for field in Tenant.ENTITLEMENT_FIELDS
        if before.get(field) != getattr(tenant, field)
    ]
    tenant.save()
    return EntitlementChange.objects.bulk_create(changes)


def tenant_entitlements(tenant: Tenant) -> dict:
    return {field: getattr(tenant, field) for field in Tenant.ENTITLEMENT_FIELDS}


def api_key_create(*, tenant: Tenant, name: str, by=None) -> tuple[ApiKey, str]:
    """Create a key; the raw key is returned once and never stored."""
    raw = f"{ApiKey.PREFIX}{secrets.token_urlsafe(32)}"
    key = ApiKey.objects.create(
        tenant=tenant, name=name, key_hash=ApiKey.hash(raw), key_hint=raw[-4:],
        created_by=by if getattr(by, "is_authenticated", False) else None,
    )
    audit_log_write(user=by, action="api_key.create", tenant=tenant, obj=key)
    return key, raw


def api_key_revoke(*, key: ApiKey, by=None) -> None:
    if key.revoked_at is None:
        key.revoked_at = clock.now()
        key.save(update_fields=["revoked_at"])
        audit_log_write(user=by, action="api_key.revoke", tenant=key.tenant, obj=key)


# a key is used many times a second; recording every use would make the key
# row the hottest row in the database, so the time is kept to the minute
LAST_USED_RESOLUTION_SECONDS = 60


def api_key_authenticate(raw: str) -> ApiKey | None:
    if not raw or not raw.startswith(ApiKey.PREFIX):
        return None
    key = ApiKey.objects.select_related("tenant").filter(key_hash=ApiKey.hash(raw)).first()
    if key is None or key.revoked_at is not None:
        return None
    now = clock.now()
    if key.last_used_at is None or (now - key.last_used_at).total_seconds() > LAST_USED_RESOLUTION_SECONDS:
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
        key.last_used_at = now
    return key


@transaction.atomic
def user_create(*, username: str, password: str, role: str, tenant: Tenant | None = None, email: str = ""):
    # bad input is a ValidationError naming the field, as everywhere else in the services
    if role not in Role.values:
        raise ValidationError({"role": ERR_UNKNOWN_ROLE})
    if role == Role.CSM and tenant is not None:
        raise ValidationError({"tenant": ERR_CSM_HAS_NO_TENANT})
    if role != Role.CSM and tenant is None:
        raise ValidationError({"tenant": ERR_ROLE_NEEDS_TENANT})
    User = get_user_model()
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.is_staff = True  # every role signs in to the admin
    if email:
        user.email = email
    user.set_password(password)
    user.save()
    # a CSM works across all tenants, so the two kinds of role exclude each
    # other: making someone a CSM ends their tenant roles and the reverse
    if role == Role.CSM:
        Membership.objects.filter(user=user, tenant__isnull=False).delete()
    else:
        Membership.objects.filter(user=user, tenant__isnull=True).delete()
    Membership.objects.update_or_create(user=user, tenant=tenant, defaults={"role": role})
    return user
