"""Shared by the quarantine rule tests: one report as the API takes it, applied through the service."""

from mktops import clock
from quarantine.intake import delivery_reports_ingest


def report(address="ann@example.com", raw="550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown",
           channel="email", provider="smtp", delivery_id="dlv-1", time=None, **extra) -> dict:
    item = {"channel": channel, "address": address, "provider": provider, "delivery_id": delivery_id,
            "time": time if time is not None else clock.now().timestamp(), "raw": raw}
    item.update(extra)
    return item


def apply(tenant, *items):
    outcome = delivery_reports_ingest(tenant=tenant, items=list(items))
    assert not outcome.rejected, outcome.rejected
    return outcome
