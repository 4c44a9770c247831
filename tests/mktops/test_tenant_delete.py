"""Deleting a tenant takes its events and contacts along, even while its batches come in.

Events refer to their tenant and contact unchecked by the database (see
mktops.models.Event), so Tenant.delete waits for the tenant's ingest lock.
"""

import threading
import time

import pytest
from django.db import connection

from mktops import services
from mktops.ingest import TenantGone, events_ingest
from mktops.models import Contact, Event, IngestCounter, Tenant
from tests.conftest import make_event


def test_deleting_a_tenant_deletes_its_contacts_and_events_and_no_other(tenant_a, tenant_b):
    events_ingest(tenant=tenant_a, items=[make_event(i, uid=f"u-{i % 3}") for i in range(10)])
    events_ingest(tenant=tenant_b, items=[make_event(i, uid=f"u-{i % 3}") for i in range(10)])
    contact_ids = list(Contact.objects.filter(tenant=tenant_a).values_list("pk", flat=True))

    Tenant.objects.get(pk=tenant_a.pk).delete()

    assert not Event.objects.filter(tenant_id=tenant_a.pk).exists()
    assert not Event.objects.filter(contact_id__in=contact_ids).exists()
    assert not Contact.objects.filter(pk__in=contact_ids).exists()
    assert not IngestCounter.objects.filter(tenant_id=tenant_a.pk).exists()
    assert Event.objects.filter(tenant=tenant_b).count() == 10


@pytest.mark.parametrize("had_batches", [True, False], ids=["after-batches", "first-batch"])
def test_a_batch_for_a_tenant_deleted_on_its_way_in_stores_nothing(transactional_db, had_batches):
    # committed for real, as requests are: the batch finds the counter row gone,
    # or (the tenant's first batch) cannot create it for a tenant that is gone
    tenant = services.tenant_create(slug="leaving", name="Leaving")
    stale = Tenant.objects.get(pk=tenant.pk)  # as the API holds it after checking the key
    if had_batches:
        events_ingest(tenant=stale, items=[make_event(0)])
    Tenant.objects.get(pk=tenant.pk).delete()

    with pytest.raises(TenantGone):
        events_ingest(tenant=stale, items=[make_event(1)])
    assert not Event.objects.filter(tenant_id=tenant.pk).exists()
    assert not Contact.objects.filter(tenant_id=tenant.pk).exists()
    assert not IngestCounter.objects.filter(tenant_id=tenant.pk).exists()


def test_deleting_a_tenant_while_its_batches_come_in_leaves_none_of_its_events(transactional_db):
    tenant = services.tenant_create(slug="leaving", name="Leaving")
    events_ingest(tenant=tenant, items=[make_event(0, uid="u-0")])
    sending, outcome = threading.Event(), []

    def sender():
        n = 1
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                events_ingest(tenant=tenant, items=[make_event(n * 20 + i, uid=f"u-{i}") for i in range(20)])
                n += 1
                sending.set()
            outcome.append("still sending after 30 s")
        except TenantGone:
            outcome.append("gone")
        except Exception as exc:  # reported below
            outcome.append(exc)
        finally:
            sending.set()
            connection.close()

    thread = threading.Thread(target=sender)
    thread.start()
    assert sending.wait(30)
    contact_ids = set(Contact.objects.filter(tenant=tenant).values_list("pk", flat=True))
    Tenant.objects.get(pk=tenant.pk).delete()
    thread.join(60)

    assert outcome == ["gone"]
    assert not Event.objects.filter(tenant_id=tenant.pk).exists()
    assert not Contact.objects.filter(tenant_id=tenant.pk).exists()
    assert not Event.objects.filter(contact_id__in=contact_ids).exists()
