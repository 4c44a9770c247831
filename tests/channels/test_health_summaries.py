"""The changelist's health column: every row's summary read at once (health_summaries), the same
as each channel's own health_summary, with a number of queries that does not grow with the rows."""

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from channels.health import SUMMARY_ROWS, health_summaries, health_summary
from channels.models import Channel, ChannelHealthCheck, ChannelState, HealthState
from mktops import clock

DROP = {"kind": "quality_drop", "text": "Quality rating dropped from GREEN to YELLOW."}
TIER = {"kind": "tier_change", "text": "Messaging tier changed from TIER_1K to TIER_10K."}


def _channel(tenant, n: int, state=ChannelState.BOUND) -> Channel:
    return Channel.objects.create(tenant=tenant, channel_type="whatsapp", name=f"line {n}", state=state,
                                  account_id=f"acct-{n}", token_expires_at=clock.now() + timedelta(days=10))


def _checks(channel, *states, start_hours_ago: float = 0, every_hours: float = 1, highlights=()):
    """Completed checks, the first the newest, one every `every_hours` before `start_hours_ago`."""
    now = clock.now()
    for i, state in enumerate(states):
        ok = state in (HealthState.HEALTHY, HealthState.ATTENTION)
        ChannelHealthCheck.objects.create(
            tenant_id=channel.tenant_id, channel=channel, status="done",
            checked_at=now - timedelta(hours=start_hours_ago + i * every_hours), state=state,
            quality_rating="YELLOW" if ok else "", messaging_tier="TIER_10K" if ok else "",
            message=f"check {i}", highlights=list(highlights) if ok else [])


def _histories(tenant):
    """Channels whose summaries take every branch: none, a streak longer than the rows read with
    the last success beyond them, many recent changes, an alert, an unbound channel."""
    fresh = _channel(tenant, 1)
    streak = _channel(tenant, 2)
    _checks(streak, *[HealthState.UNREACHABLE] * (SUMMARY_ROWS + 9), HealthState.HEALTHY, highlights=[DROP])
    busy = _channel(tenant, 3)
    _checks(busy, *[HealthState.ATTENTION] * (SUMMARY_ROWS + 20), every_hours=0.5, highlights=[DROP, TIER])
    alert = _channel(tenant, 4)
    _checks(alert, HealthState.REFUSED, HealthState.UNREACHABLE, HealthState.UNREACHABLE, HealthState.HEALTHY,
            HealthState.ATTENTION, start_hours_ago=2, every_hours=30, highlights=[TIER])
    old = _channel(tenant, 5)
    _checks(old, HealthState.HEALTHY, start_hours_ago=24 * 30)
    return [fresh, streak, busy, alert, old, _channel(tenant, 6, state=ChannelState.UNBOUND)]


def test_the_summaries_read_at_once_are_each_channels_own(tenant_a):
    channels = _histories(tenant_a)
    together = health_summaries(channels)
    for channel in channels:
        assert together[channel.pk] == health_summary(channel), channel.name
    streak = together[channels[1].pk]
    assert streak["failed_in_a_row"] == SUMMARY_ROWS + 9 and streak["alert"]
    assert streak["quality_rating"] == "YELLOW"  # the success beyond the rows read
    assert together[channels[2].pk]["highlights"]  # the changes of the last days


def test_the_changelist_queries_do_not_grow_with_its_rows(tenant_a, as_operator_a):
    url = reverse("admin:channels_channel_changelist")
    _histories(tenant_a)
    with CaptureQueriesContext(connection) as few:
        assert as_operator_a.get(url).status_code == 200
    for n in range(10, 30):
        channel = _channel(tenant_a, n)
        _checks(channel, HealthState.HEALTHY, HealthState.UNREACHABLE, HealthState.ATTENTION, highlights=[DROP])
    with CaptureQueriesContext(connection) as many:
        html = as_operator_a.get(url).content.decode()
    assert html.count("channel-health-highlighted") >= 20
    # the streak past the rows read costs its own two lookups, on either page
    assert len(many.captured_queries) == len(few.captured_queries)
