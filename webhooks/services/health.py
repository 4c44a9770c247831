"""An endpoint's health over the last 24 hours, from its Attempt and Message rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from mktops import clock
from mktops.jobs import ACTIVE
from webhooks.models import Attempt, Endpoint, Message, Outcome

WINDOW = timedelta(hours=24)


@dataclass
class Health:
    attempts: int
    success_rate: float | None  # 0..1, None without attempts
    p95_latency_ms: int | None
    oldest_undelivered: timedelta | None
    by_outcome: dict[str, int] = field(default_factory=dict)
    # the chart: (start of the hour, delivered, failed) for each of the last 24 hours, oldest first
    by_hour: list[tuple] = field(default_factory=list)


def endpoint_health(*, endpoint: Endpoint) -> Health:
    now = clock.now()
    rows = list(Attempt.objects.filter(endpoint=endpoint, at__gte=now - WINDOW)
                .values_list("outcome", "latency_ms", "at"))
    by_outcome: dict[str, int] = {}
    first_hour = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=23)
    hours = [[first_hour + timedelta(hours=i), 0, 0] for i in range(24)]
    for outcome, _, at in rows:
        by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        slot = hours[max(0, int((at - first_hour).total_seconds() // 3600))]
        slot[1 if outcome == Outcome.SUCCESS else 2] += 1
    latencies = sorted(ms for _, ms, _ in rows if ms is not None)
    p95 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.95))] if latencies else None
    oldest = Message.objects.filter(endpoint=endpoint, status__in=ACTIVE, is_test=False) \
        .order_by("created_at").values_list("created_at", flat=True).first()
    return Health(attempts=len(rows),
                  success_rate=by_outcome.get(Outcome.SUCCESS, 0) / len(rows) if rows else None,
                  p95_latency_ms=p95, oldest_undelivered=now - oldest if oldest else None,
                  by_outcome=by_outcome, by_hour=[tuple(h) for h in hours])
