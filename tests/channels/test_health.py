"""Channel health: the scheduled check per Bound channel, on the `clock` fixture, against the loopback platforms."""

from datetime import timedelta

import pytest

from channels import health, health_tasks
from channels.models import ChannelHealthCheck, ChannelState, HealthState
from channels.services import lifecycle
from mktops.models import AuditLog
from tests.channels.lifecycle_helpers import make_channel
from tests.channels.platform_helpers import NUMBER_ID, TOKEN, viber_channel, whatsapp_channel


@pytest.fixture
def graph(platforms, settings):
    return platforms.configure(settings)


def run_due_checks() -> list[str]:
    """What the schedule does: the sweep, then each due row's task (here in this process)."""
    health_tasks.health_sweep()
    return [health_tasks.health_check(pk) for pk in
            ChannelHealthCheck.objects.filter(status="pending").values_list("pk", flat=True)]


def test_the_sweep_checks_bound_channels_once_an_hour(tenant_a, graph, clock):
    channel = whatsapp_channel(tenant_a, graph)
    make_channel(tenant_a, name="Not bound yet")

    assert run_due_checks() == [HealthState.HEALTHY]
    assert run_due_checks() == []  # checked within the hour
    clock.advance(health.CHECK_EVERY + timedelta(minutes=1))
    assert run_due_checks() == [HealthState.HEALTHY]
    assert ChannelHealthCheck.objects.filter(channel=channel).count() == 2
    assert set(ChannelHealthCheck.objects.values_list("channel_id", flat=True)) == {channel.pk}


def test_a_waiting_check_is_not_doubled_and_a_lost_one_is_picked_up(tenant_a, graph, clock):
    whatsapp_channel(tenant_a, graph)
    first = health.health_checks_schedule()
    clock.advance(health.CHECK_EVERY * 2)  # its task was lost: the row is still pending and due
    assert health.health_checks_schedule() == []
    assert health_tasks.health_sweep()["enqueued"] == 1
    assert health_tasks.health_check(first[0]) == HealthState.HEALTHY
    assert health_tasks.health_check(first[0]) == "not claimed"


def test_a_healthy_whatsapp_check_records_quality_tier_and_status(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph, quality_rating="GREEN", messaging_limit_tier="TIER_1K")
    run_due_checks()
    check = ChannelHealthCheck.objects.get(channel=channel)
    assert (check.state, check.quality_rating, check.messaging_tier, check.platform_status) == (
        HealthState.HEALTHY, "GREEN", "TIER_1K", "CONNECTED")
    summary = health.health_summary(channel)
    assert summary["state"] == "healthy" and summary["ok"] and not summary["highlighted"]
    assert summary["quality_rating"] == "GREEN" and summary["messaging_tier"] == "TIER_1K"
    assert graph.requests_to(f"/graph/v21.0/{NUMBER_ID}")[-1].query["fields"].startswith("verified_name")


def test_a_drop_in_quality_is_highlighted(tenant_a, graph, clock):
    channel = whatsapp_channel(tenant_a, graph, quality_rating="GREEN")
    run_due_checks()
    graph.set_whatsapp_number(NUMBER_ID, quality_rating="YELLOW")
    clock.advance(health.CHECK_EVERY * 2)
    run_due_checks()

    latest = channel.health_checks.order_by("-checked_at").first()
    assert latest.state == HealthState.ATTENTION
    assert latest.highlights == [{"kind": "quality_drop",
                                  "text": health.HL_QUALITY_DROP.format(old="GREEN", new="YELLOW")}]
    summary = health.health_summary(channel)
    assert summary["highlighted"] and summary["quality_rating"] == "YELLOW"
    assert health.HL_QUALITY_DROP.format(old="GREEN", new="YELLOW") in summary["highlights"]

    # an hour later nothing changed any more; the drop stays highlighted for a week, dated
    clock.advance(health.CHECK_EVERY * 2)
    run_due_checks()
    summary = health.health_summary(channel)
    assert summary["state"] == "healthy"
    assert any(text.endswith(health.HL_QUALITY_DROP.format(old="GREEN", new="YELLOW"))
               for text in summary["highlights"])
    clock.advance(health.CHANGES_SHOWN_FOR + timedelta(days=1))
    run_due_checks()
    assert health.health_summary(channel)["highlights"] == []


def test_the_first_check_compares_with_what_the_bind_found(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph, quality_rating="GREEN", messaging_limit_tier="TIER_1K")
    graph.set_whatsapp_number(NUMBER_ID, messaging_limit_tier="TIER_10K", quality_rating="RED", status="FLAGGED")
    run_due_checks()
    kinds = [h["kind"] for h in channel.health_checks.get().highlights]
    assert kinds == ["quality_drop", "tier_change", "status"]


def test_red_quality_is_highlighted_even_without_a_drop(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph, quality_rating="RED")
    run_due_checks()
    assert channel.health_checks.get().highlights == [{"kind": "quality_red", "text": health.HL_QUALITY_RED}]


def test_an_unreachable_platform_records_a_failed_check_and_alerts_after_three(tenant_a, graph, clock):
    channel = whatsapp_channel(tenant_a, graph)
    graph.fail("/graph", status=503)
    for n in range(1, 5):
        run_due_checks()
        channel.refresh_from_db()
        assert channel.state == ChannelState.BOUND  # never flipped by a check
        summary = health.health_summary(channel)
        assert summary["state"] == HealthState.UNREACHABLE and summary["failed_in_a_row"] == n
        assert summary["alert"] == (n >= health.ALERT_AFTER)
        clock.advance(health.CHECK_EVERY * 2)
    alerted = list(channel.health_checks.filter(alerted=True))
    assert len(alerted) == 1  # one alert per streak: the third check
    assert AuditLog.objects.filter(action=health.AUDIT_ALERT, tenant=tenant_a).count() == 1
    assert health.MSG_ALERT.format(count=4) in health.health_summary(channel)["highlights"]
    assert "503" not in alerted[0].message

    graph.clear_faults()
    run_due_checks()
    summary = health.health_summary(channel)
    assert summary["state"] == "healthy" and not summary["alert"] and summary["failed_in_a_row"] == 0
    assert AuditLog.objects.filter(action=health.AUDIT_RECOVERED, tenant=tenant_a).count() == 1


def test_a_timeout_is_a_failed_check(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    graph.fail("/graph", timeout=True)
    assert run_due_checks() == [HealthState.UNREACHABLE]
    assert channel.health_checks.get().reason == "timeout"


def test_a_revoked_token_is_refused_and_highlighted_but_the_channel_stays_bound(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    graph.add_meta_token(TOKEN, is_valid=False)
    assert run_due_checks() == [HealthState.REFUSED]
    channel.refresh_from_db()
    assert channel.state == ChannelState.BOUND
    summary = health.health_summary(channel)
    assert summary["highlighted"] and not summary["ok"]
    assert channel.health_checks.get().reason == "invalid_token"


def test_the_token_expiry_is_tracked_and_warned_14_days_before(tenant_a, graph, clock):
    from mktops import clock as mk_clock

    channel = whatsapp_channel(tenant_a, graph, expires_at=mk_clock.now() + timedelta(days=20))
    run_due_checks()
    summary = health.health_summary(channel)
    assert summary["token_expires_at"] is not None and not summary["highlighted"]

    clock.advance(timedelta(days=7))  # 13 days left: warned, even before the next check
    summary = health.health_summary(channel)
    assert summary["highlighted"]
    assert any("expires on" in text for text in summary["highlights"])
    run_due_checks()
    assert [h["kind"] for h in channel.health_checks.order_by("-checked_at").first().highlights] == ["token_expiry"]

    clock.advance(timedelta(days=14))
    assert any("expired on" in text for text in health.health_summary(channel)["highlights"])


def test_a_viber_channel_has_no_quality_but_is_checked(tenant_a, graph):
    channel = viber_channel(tenant_a, graph)
    assert run_due_checks() == [HealthState.HEALTHY]
    summary = health.health_summary(channel)
    assert summary["quality_rating"] == "" and summary["state"] == "healthy"


def test_an_unbound_channel_is_not_checked(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    check = health.health_checks_schedule()[0]
    lifecycle.channel_unbind(channel=channel)
    assert health_tasks.health_check(check) == "skipped"
    channel.refresh_from_db()
    assert health.health_summary(channel)["state"] == "not_bound"
    assert health.health_summary(make_channel(tenant_a, name="x"))["label"] == "Not bound"


def test_check_now_requests_one_check(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    assert health.health_check_request(channel=channel) is not None
    assert health.health_check_request(channel=channel) is None  # one is waiting
    assert health.health_summary(channel)["state"] == "unchecked"


def test_checks_older_than_90_days_are_purged(tenant_a, graph, clock):
    channel = whatsapp_channel(tenant_a, graph)
    run_due_checks()
    clock.advance(health.KEEP_CHECKS - timedelta(days=1))
    run_due_checks()
    assert channel.health_checks.count() == 2
    clock.advance(timedelta(days=2))
    assert health_tasks.health_sweep()["purged"] == 1
    assert channel.health_checks.count() == 2  # the old one gone, a new one waiting
    assert channel.health_checks.filter(status="pending").count() == 1


def test_an_email_channel_is_checked_through_dns_and_the_smtp_login(tenant_a, smtp_server, dns_server, settings,
                                                                   clock):
    from tests.channels.platform_helpers import bind

    settings.MKTOPS_DNS_RESOLVER = dns_server.address
    dns_server.add("acme.example", "TXT", "v=spf1 include:_spf.mailer.example ~all")
    dns_server.add("s1._domainkey.acme.example", "TXT", "v=DKIM1; p=MIGfMA0GCSqGSIb3DQEB")
    channel = bind(tenant_a, "email", smtp_server.credentials(), name="Newsletter")
    assert run_due_checks() == [HealthState.HEALTHY]

    dns_server.clear()  # the DKIM key withdrawn from the zone, the SPF record kept
    dns_server.add("acme.example", "TXT", "v=spf1 include:_spf.mailer.example ~all")
    clock.advance(health.CHECK_EVERY * 2)
    assert run_due_checks() == [HealthState.REFUSED]
    latest = channel.health_checks.order_by("-checked_at").first()
    assert "s1._domainkey.acme.example" in latest.message
    channel.refresh_from_db()
    assert channel.state == ChannelState.BOUND


def test_check_now_is_limited_per_tenant(tenant_a, graph):
    from django.core.exceptions import ValidationError

    from mktops import ratelimit

    channel = whatsapp_channel(tenant_a, graph)
    first = health.health_check_now(channel=channel)
    assert first is not None
    for _ in range(ratelimit.CONNECTION_TESTS - 1):
        assert health.health_check_now(channel=channel) is None  # one is waiting already
    with pytest.raises(ValidationError) as refused:
        health.health_check_now(channel=channel)
    assert "Too many health checks" in refused.value.messages[0]
    assert ChannelHealthCheck.objects.filter(channel=channel).count() == 1
