"""Holds on the retention purge: events a feature still owes the tenant are not deleted.

The core does not know the features (they import mktops, never the reverse), so a feature that
delivers events later (S3 exports) registers a function in its `apps.py`:

    register_retention_hold(func)   # func(tenant, now) -> list[RetentionHold]

The purge (`mktops.tasks.purge_expired_events_for`) deletes an event past the tenant's retention
only when no hold covers it; the tenant's page lists every hold that keeps events past retention.
Holds go by ingest sequence, not event time: a late event (its time weeks old, ingested now) is
owed like any other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q

from mktops.models import Event, Tenant

MSG_KEPT = ("Events older than the {days}-day retention are kept, the oldest from {oldest:%Y-%m-%d %H:%M} UTC: "
            "{sentence}")


@dataclass(frozen=True)
class RetentionHold:
    """Events from ingest sequence `seq` on are kept past retention, except (when `not_before` is
    set) those whose event time is before `not_before`: a capped hold, for a feature paused by its
    operator. `sentence` says in words who holds them and why."""

    seq: int
    sentence: str
    not_before: datetime | None = None

    def covers(self) -> Q:
        held = Q(seq__gte=self.seq)
        return held & Q(event_time__gte=self.not_before) if self.not_before else held


HoldFunc = Callable[[Tenant, datetime], list[RetentionHold]]
_registry: list[HoldFunc] = []


def register_retention_hold(func: HoldFunc) -> None:
    """Idempotent: `ready()` may run more than once (tests, autoreload)."""
    if func not in _registry:
        _registry.append(func)


def retention_holds(tenant: Tenant, *, now: datetime) -> list[RetentionHold]:
    return [hold for func in _registry for hold in func(tenant, now)]


def retention_cutoff(tenant: Tenant, now: datetime) -> datetime:
    return now - timedelta(days=tenant.event_retention_days)


def purgeable(tenant: Tenant, *, now: datetime):
    """The tenant's events past retention that no hold covers."""
    qs = Event.objects.filter(tenant=tenant, event_time__lt=retention_cutoff(tenant, now))
    for hold in retention_holds(tenant, now=now):
        qs = qs.exclude(hold.covers())
    return qs


def held_past_retention(tenant: Tenant, hold: RetentionHold, *, now: datetime) -> datetime | None:
    """The event time of the oldest event this hold keeps past retention (None: it keeps none)."""
    return (Event.objects.filter(hold.covers(), tenant=tenant, event_time__lt=retention_cutoff(tenant, now))
            .order_by("event_time").values_list("event_time", flat=True).first())


def hold_note(tenant: Tenant, hold: RetentionHold, *, now: datetime) -> str:
    """One line for the pages of the tenant and of the feature: '' when the hold keeps nothing past retention."""
    oldest = held_past_retention(tenant, hold, now=now)
    if oldest is None:
        return ""
    return MSG_KEPT.format(days=tenant.event_retention_days, oldest=oldest, sentence=hold.sentence)


def retention_notes(tenant: Tenant, *, now: datetime) -> list[str]:
    """A line per hold that keeps events past retention (the tenant's page)."""
    notes = (hold_note(tenant, hold, now=now) for hold in retention_holds(tenant, now=now))
    return [note for note in notes if note]
