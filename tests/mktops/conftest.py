"""Fixtures of the core's tests: the same set of rows in tenant A and tenant B."""

from dataclasses import dataclass

import pytest

from mktops import services
from mktops.ingest import events_ingest
from mktops.models import ApiKey, AuditLog, Contact, Event, EventName, Membership, Tenant
from tests.conftest import email_sent_event, make_event


@dataclass
class TenantRows:
    tenant: Tenant
    membership: Membership
    apikey: ApiKey
    auditlog: AuditLog
    contact: Contact
    event: Event
    eventname: EventName

    def of(self, model_name: str):
        return getattr(self, model_name)


def _rows(tenant, operator, prefix) -> TenantRows:
    events_ingest(tenant=tenant, items=[
        make_event(1, uid=f"{prefix}-contact", event_uuid=f"{prefix}-uuid-1", event_name=f"{prefix} Opened",
                   email_id=f"{prefix}.person@example.com", mobile_number="+1 555 0100",
                   user_attributes={"city": f"{prefix}-city"}),
        email_sent_event(2, uid=f"{prefix}-contact", event_uuid=f"{prefix}-uuid-2"),
    ])
    contact = Contact.objects.get(tenant=tenant, uid=f"{prefix}-contact")
    key, _ = services.api_key_create(tenant=tenant, name=f"{prefix} key", by=operator)
    return TenantRows(
        tenant=tenant,
        membership=Membership.objects.get(user=operator, tenant=tenant),
        apikey=key,
        auditlog=AuditLog.objects.get(tenant=tenant, action="api_key.create"),
        contact=contact,
        event=Event.objects.get(tenant=tenant, event_uuid=f"{prefix}-uuid-1"),
        eventname=EventName.objects.get(tenant=tenant, name=f"{prefix} Opened"),
    )


@pytest.fixture
def rows_a(tenant_a, operator_a, support_a) -> TenantRows:
    return _rows(tenant_a, operator_a, "alpha")


@pytest.fixture
def rows_b(tenant_b, operator_b) -> TenantRows:
    return _rows(tenant_b, operator_b, "bravo")


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Personas are created in almost every test; the production hasher's cost buys nothing here."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
