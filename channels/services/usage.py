"""What still uses a channel: its traffic, the events attributed to it by
`event_attributes.channel_id`, over the last days (shown before an unbind)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Max

from channels.models import Channel
from mktops import clock
from mktops.models import Event

USAGE_DAYS = 7


@dataclass(frozen=True)
class ChannelUsage:
    since: datetime
    total: int
    by_event: list[tuple[str, int]]  # (event name, count), most frequent first
    last_at: datetime | None


def channel_usage(*, channel: Channel, days: int = USAGE_DAYS, now: datetime | None = None) -> ChannelUsage:
    since = (now or clock.now()) - timedelta(days=days)
    events = Event.objects.filter(tenant_id=channel.tenant_id, event_time__gte=since,
                                  event_attributes__channel_id=channel.public_id)
    rows = list(events.values("event_name").annotate(n=Count("id")).order_by("-n", "event_name"))
    last_at = events.aggregate(last=Max("event_time"))["last"]
    return ChannelUsage(since=since, total=sum(r["n"] for r in rows),
                        by_event=[(r["event_name"], r["n"]) for r in rows], last_at=last_at)
