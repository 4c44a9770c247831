"""The channels' menu entry: a service provider manages its customers' channels."""

from __future__ import annotations

from mktops import roles
from mktops.models import Tenant

CHANNEL_MANAGEMENT = "Channel management"
CUSTOMER_MANAGEMENT = "Customer management"


def menu_name(request) -> str | None:
    """"Customer management" for a user whose tenants are all service providers; else the app's
    own name (CSMs see every tenant, so theirs stays "Channel management")."""
    user = request.user
    if roles.is_csm(user):
        return None
    tenant_ids = roles.tenant_ids(user)
    if not tenant_ids:
        return None
    flags = set(Tenant.objects.filter(pk__in=tenant_ids).values_list("service_provider", flat=True))
    return CUSTOMER_MANAGEMENT if flags == {True} else None
