"""The data report: sent, delivered, failed and opened over the last 7 and 30 days, from ingested events."""

from datetime import UTC, datetime, timedelta

import pytest

from channels.report import EVENT_NAMES, channel_report, report_chart
from mktops.ingest import events_ingest
from tests.channels.lifecycle_helpers import make_channel

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def event(n: int, name: str, channel_id: str, days_ago: float, **overrides) -> dict:
    return {"uid": f"user-{n}", "event_code": name.upper().replace(" ", "_"), "event_name": name,
            "event_uuid": f"ev-{n}", "event_time": int((NOW - timedelta(days=days_ago)).timestamp()),
            "event_attributes": {"channel_id": channel_id}, **overrides}


@pytest.fixture
def channel(tenant_a):
    return make_channel(tenant_a, channel_type="email", name="Newsletter")


def ingest(tenant, events):
    outcome = events_ingest(tenant=tenant, items=events)
    assert not outcome.rejected and outcome.accepted == len(events)


def test_the_figures_over_7_and_30_days(tenant_a, channel):
    other = make_channel(tenant_a, channel_type="email", name="Other")
    cid = channel.public_id
    ingest(tenant_a, [
        event(1, "Email Sent", cid, 0), event(2, "Email Sent", cid, 1), event(3, "Email Sent", cid, 6.4),
        event(4, "Email Sent", cid, 10), event(5, "Email Sent", cid, 29.4), event(6, "Email Sent", cid, 31),
        event(7, "Email Delivered", cid, 0), event(8, "Email Delivered", cid, 12),
        event(9, "Email Hard Bounced", cid, 2), event(10, "Email Soft Bounced", cid, 20),
        event(11, "Email Opened", cid, 0.2), event(12, "Email Opened", cid, 0.3),
        event(13, "Email Clicked", cid, 0),  # not one of the four figures
        event(14, "Email Sent", other.public_id, 0),  # another channel
        event(15, "Email Sent", "", 0, event_attributes={}),  # no channel at all
    ])
    report = channel_report(channel=channel, now=NOW)
    assert report.totals[7] == {"sent": 3, "delivered": 1, "failed": 1, "opened": 2}
    assert report.totals[30] == {"sent": 5, "delivered": 2, "failed": 2, "opened": 2}
    assert len(report.days) == 30 and report.days[-1] == NOW.date()
    assert report.daily["sent"][-1] == 1 and report.daily["opened"][-1] == 2
    assert sum(report.daily["sent"]) == report.totals[30]["sent"]
    assert report.rate(7, "delivered") == "33.3 %"


def test_another_tenants_events_with_the_same_channel_id_do_not_count(tenant_a, tenant_b, channel):
    ingest(tenant_b, [event(1, "Email Sent", channel.public_id, 0)])
    assert channel_report(channel=channel, now=NOW).totals[30]["sent"] == 0


def test_nothing_sent_gives_zeros_and_no_rate(channel):
    report = channel_report(channel=channel, now=NOW)
    assert report.totals[7] == {"sent": 0, "delivered": 0, "failed": 0, "opened": 0}
    assert report.rate(30, "delivered") == "—"
    assert "<svg" in report_chart(report)


def test_sms_has_no_opens_and_whatsapp_read_counts_as_opened(tenant_a):
    sms = make_channel(tenant_a, channel_type="sms", name="SMS")
    whatsapp = make_channel(tenant_a, channel_type="whatsapp", name="WA")
    ingest(tenant_a, [event(1, "SMS Sent", sms.public_id, 0), event(2, "SMS Delivered", sms.public_id, 0),
                      event(3, "SMS Failed", sms.public_id, 0), event(4, "WhatsApp Sent", whatsapp.public_id, 0),
                      event(5, "WhatsApp Read", whatsapp.public_id, 0)])
    sms_report = channel_report(channel=sms, now=NOW)
    assert not sms_report.has_opened and EVENT_NAMES["sms"]["opened"] == ()
    assert sms_report.totals[7] == {"sent": 1, "delivered": 1, "failed": 1, "opened": 0}
    assert 'data-metric="opened"' not in report_chart(sms_report)
    assert channel_report(channel=whatsapp, now=NOW).totals[7]["opened"] == 1


def test_the_chart_draws_a_line_per_figure(tenant_a, channel):
    ingest(tenant_a, [event(n, "Email Sent", channel.public_id, n % 30) for n in range(40)])
    svg = str(report_chart(channel_report(channel=channel, now=NOW)))
    assert svg.startswith("<svg") and svg.endswith("</svg>")
    for metric in ("sent", "delivered", "failed", "opened"):
        assert f'data-metric="{metric}"' in svg
    assert "<script" not in svg
