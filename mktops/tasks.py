"""The core's scheduled work. django-q2 runs these; they hold no state of their own."""

import logging

from django.db.models import Min

from mktops import clock, jobs, retention, throttle
from mktops.models import Event, Tenant

log = logging.getLogger(__name__)

PURGE_BATCH = 5000


def purge_expired_events_for(tenant: Tenant, *, now=None, batch: int = PURGE_BATCH) -> int:
    """Delete one batch of the tenant's events older than its retention; returns how many.

    Never an event a feature still owes the tenant (an export connection that has not exported it
    yet): the holds of mktops.retention keep those until they are delivered."""
    ids = list(
        retention.purgeable(tenant, now=now or clock.now()).order_by("event_time")
        .values_list("id", flat=True)[:batch]
    )
    if not ids:
        return 0
    Event.objects.filter(id__in=ids).delete()
    return len(ids)


def purge_expired_events(*, now=None, batch: int = PURGE_BATCH, max_batches: int = 200) -> int:
    """Delete events past each tenant's retention, in batches, so no transaction grows large
    (and, hourly too, the heartbeats of workers long gone and old sign-in logs)."""
    jobs.heartbeats_forget(now=now)
    throttle.signin_logs_prune(now=now)
    total = 0
    for tenant in Tenant.objects.all():
        for _ in range(max_batches):
            deleted = purge_expired_events_for(tenant, now=now, batch=batch)
            total += deleted
            if deleted < batch:
                break
    if total:
        log.info("purged %d expired events", total)
    return total


def oldest_event_time(tenant: Tenant):
    return Event.objects.filter(tenant=tenant).aggregate(m=Min("event_time"))["m"]
