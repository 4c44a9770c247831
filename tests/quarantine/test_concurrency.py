"""Two reports for one address at the same moment both count (run on PostgreSQL in CI; on SQLite
the writers queue on the database lock and the result is the same)."""

import threading

import pytest
from django.db import connections

from quarantine.models import QuarantineEntry, Status
from tests.quarantine.report_helpers import apply, report

SOFT = "452 4.2.2 Mailbox full"


def _at_once(tenant, items):
    barrier = threading.Barrier(len(items))
    errors = []

    def run(item):
        try:
            barrier.wait(timeout=10)
            apply(tenant, item)
        except Exception as exc:  # reported by the test, not lost in the thread
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(item,)) for item in items]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors


@pytest.mark.django_db(transaction=True)
def test_two_reports_at_the_same_moment_both_count(tenant_a):
    _at_once(tenant_a, [report(raw=SOFT, delivery_id="d1"), report(raw=SOFT, delivery_id="d2")])
    entry = QuarantineEntry.objects.get()
    assert entry.error_count == 2
    assert sorted(e["delivery_id"] for e in entry.evidence) == ["d1", "d2"]


@pytest.mark.django_db(transaction=True)
def test_five_at_once_reach_the_threshold(tenant_a):
    _at_once(tenant_a, [report(raw=SOFT, delivery_id=f"d{i}") for i in range(5)])
    entry = QuarantineEntry.objects.get()
    assert (entry.error_count, entry.status) == (5, Status.QUARANTINED)
    assert [e["outcome"] for e in entry.evidence].count("quarantined") == 1


@pytest.mark.django_db(transaction=True)
def test_an_existing_entry_counts_every_concurrent_report(tenant_a):
    apply(tenant_a, report(raw=SOFT, delivery_id="first"))
    _at_once(tenant_a, [report(raw=SOFT, delivery_id=f"d{i}") for i in range(3)])
    assert QuarantineEntry.objects.get().error_count == 4
