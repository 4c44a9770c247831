"""Concurrent batches of one tenant: the ingest sequence stays gap-free and unique.

Exports read events by sequence as their watermark, so two API requests
writing at once must never share or skip a number.
"""

import threading

from django.db import connection

from mktops import services
from mktops.ingest import events_ingest
from mktops.models import Event, Tenant
from tests.conftest import make_event

THREADS, BATCHES, PER_BATCH = 4, 5, 20


def test_concurrent_batches_get_unique_gap_free_sequences(transactional_db):
    tenant = services.tenant_create(slug="busy", name="Busy")
    errors = []

    def worker(n):
        try:
            for b in range(BATCHES):
                base = (n * BATCHES + b) * PER_BATCH
                # every batch repeats one uuid of the previous thread's range: duplicates race too
                items = [make_event(base + i, uid=f"u-{i % 7}") for i in range(PER_BATCH)]
                items.append(make_event(max(0, base - 1), uid="u-dup"))
                events_ingest(tenant=Tenant.objects.get(pk=tenant.pk), items=items)
        except Exception as exc:  # reported below, with the thread's number
            errors.append((n, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert errors == []
    total = THREADS * BATCHES * PER_BATCH
    seqs = sorted(Event.objects.filter(tenant=tenant).values_list("seq", flat=True))
    assert seqs == list(range(1, total + 1))
    assert Event.objects.filter(tenant=tenant).values("event_uuid").distinct().count() == total
