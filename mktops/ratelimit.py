"""Per-tenant limits on actions that reach outside on a tenant's behalf (connection tests).

A Test connection button reaches a host the tenant chose with credentials the tenant typed: without
a limit it is a tool to guess passwords against a server, or to map one by trying ports.

Attempts are counted from the audit log, not a cache: the default cache is per process, and every
web process shares the database. `attempt_start` writes the attempt's audit row *before* the work
starts, so attempts still running count too, and it counts and writes under a lock on the tenant's
row (SELECT … FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE transactions serialise writers), so a
burst of simultaneous requests cannot all slip under the limit. The service records the outcome
on that row with `attempt_finish`. A refused attempt gets an audit row of its own
(`ratelimit.refused`), which does not count as an attempt.
"""

from __future__ import annotations

import math
from datetime import timedelta

from django.db import transaction

from mktops import clock
from mktops.models import AuditLog, Tenant
from mktops.services import audit_log_write

CONNECTION_TESTS = 10  # per tenant and kind of test, within CONNECTION_TEST_WINDOW
CONNECTION_TEST_WINDOW = timedelta(minutes=10)

AUDIT_REFUSED = "ratelimit.refused"
REASON = "rate_limited"
ERR_TOO_MANY = ("Too many {what} for this tenant (at most {limit} in {window} minutes); "
                "try again in {minutes} minute(s).")


class RateLimited(Exception):
    """The tenant used up its attempts; `message` says when it may try again."""

    reason = REASON

    def __init__(self, message: str, minutes: int):
        super().__init__(message)
        self.message = message
        self.minutes = minutes


def attempt_start(*, tenant: Tenant, action: str, what: str, user=None, obj=None,
                  limit: int = CONNECTION_TESTS, window: timedelta = CONNECTION_TEST_WINDOW) -> AuditLog:
    """Record an attempt of `action` for `tenant` (its audit row, returned), or raise RateLimited
    when `limit` attempts were made within the last `window`."""
    with transaction.atomic():
        Tenant.objects.select_for_update().filter(pk=tenant.pk).first()
        since = clock.now() - window
        recent = AuditLog.objects.filter(tenant=tenant, action=action, at__gte=since)
        if recent.count() < limit:
            return audit_log_write(user=user, action=action, tenant=tenant, obj=obj, detail={"started": True})
        oldest = recent.order_by("at").values_list("at", flat=True).first()
    minutes = max(1, math.ceil((oldest + window - clock.now()).total_seconds() / 60))
    message = ERR_TOO_MANY.format(what=what, limit=limit, window=int(window.total_seconds() // 60), minutes=minutes)
    audit_log_write(user=user, action=AUDIT_REFUSED, tenant=tenant, obj=obj,
                    detail={"action": action, "limit": limit, "window_minutes": int(window.total_seconds() // 60)})
    raise RateLimited(message, minutes)


def attempt_finish(row: AuditLog, **detail) -> None:
    """The attempt's outcome, on its audit row."""
    row.detail = detail
    row.save(update_fields=["detail"])
