"""Who may do what: roles of the signed-in user, cached on the user object per request."""

from mktops.models import Membership, Role


def _memberships(user) -> dict[int | None, str]:
    cached = getattr(user, "_mktops_roles", None)
    if cached is None:
        cached = {}
        if user.is_authenticated and user.is_active:
            cached = dict(Membership.objects.filter(user=user).values_list("tenant_id", "role"))
        user._mktops_roles = cached
    return cached


def is_csm(user) -> bool:
    if not (user.is_authenticated and user.is_active):
        return False
    return user.is_superuser or _memberships(user).get(None) == Role.CSM


def has_any_role(user) -> bool:
    return is_csm(user) or bool(_memberships(user))


def role_for(user, tenant_id: int | None) -> str | None:
    """The user's role in a tenant: csm, operator, support or None."""
    if is_csm(user):
        return Role.CSM
    return _memberships(user).get(tenant_id)


def tenant_ids(user, roles: tuple[str, ...] = (Role.OPERATOR, Role.SUPPORT)) -> list[int]:
    """The tenants the user holds one of `roles` in (not meaningful for CSMs: they see all)."""
    return [tid for tid, role in _memberships(user).items() if tid is not None and role in roles]


def is_operator_of(user, tenant_id: int | None) -> bool:
    return role_for(user, tenant_id) in (Role.OPERATOR, Role.CSM)


def operates_any(user) -> bool:
    return is_csm(user) or bool(tenant_ids(user, (Role.OPERATOR,)))
