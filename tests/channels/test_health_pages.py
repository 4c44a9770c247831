"""The health and data report pages, for each persona: tenant B 404, support reads, never a secret."""

import pytest
from django.urls import reverse

from channels import health_tasks
from channels.models import ChannelHealthCheck
from mktops.ingest import events_ingest
from tests.channels.platform_helpers import NUMBER_ID, TOKEN, whatsapp_channel


@pytest.fixture
def channel(tenant_a, platforms, settings):
    platforms.configure(settings)
    channel = whatsapp_channel(tenant_a, platforms, quality_rating="GREEN", verified_name="Acme Shop")
    health_tasks.health_sweep()
    for pk in ChannelHealthCheck.objects.values_list("pk", flat=True):
        health_tasks.health_check(pk)
    platforms.set_whatsapp_number(NUMBER_ID, quality_rating="RED")
    ChannelHealthCheck.objects.update(created_at="2000-01-01T00:00:00Z")  # the next one is due now
    health_tasks.health_sweep()
    for pk in ChannelHealthCheck.objects.filter(status="pending").values_list("pk", flat=True):
        health_tasks.health_check(pk)
    return channel


def url(name, channel):
    return reverse(f"admin:channels_channel_{name}", args=[channel.pk])


@pytest.mark.parametrize("page", ["health", "report"])
def test_operator_support_and_csm_see_the_page_without_a_secret(channel, page, as_operator_a, as_support_a, as_csm):
    for client in (as_operator_a, as_support_a, as_csm):
        response = client.get(url(page, channel))
        assert response.status_code == 200
        assert TOKEN not in response.content.decode()


@pytest.mark.parametrize("page", ["health", "report"])
def test_another_tenant_gets_404(channel, page, as_operator_b):
    assert as_operator_b.get(url(page, channel)).status_code == 404


@pytest.mark.parametrize("page", ["health", "report"])
def test_an_unknown_channel_is_404_and_a_bad_to_field_400(channel, page, as_operator_a):
    assert as_operator_a.get(reverse(f"admin:channels_channel_{page}", args=[999999])).status_code == 404
    assert as_operator_a.get(url(page, channel) + "?_to_field=credentials").status_code == 400


def test_the_health_page_highlights_the_drop_and_shows_the_timeline(channel, as_support_a):
    html = as_support_a.get(url("health", channel)).content.decode()
    assert 'class="health-box highlighted"' in html
    assert "Quality rating dropped from GREEN to RED." in html
    assert html.count("<tr>") >= 3  # the header and two checks
    assert 'quality quality-RED' in html
    # support reads, and is not offered the test send
    assert reverse("admin:channels_channel_test_send", args=[channel.pk]) not in html


def test_the_report_page_has_the_chart_and_the_table(channel, tenant_a, as_operator_a):
    from mktops import clock

    an_hour_ago = int(clock.now().timestamp()) - 3600
    events_ingest(tenant=tenant_a, items=[
        {"uid": f"u{n}", "event_code": "WA", "event_name": name, "event_uuid": f"e{n}",
         "event_time": an_hour_ago, "event_attributes": {"channel_id": channel.public_id}}
        for n, name in enumerate(["WhatsApp Sent", "WhatsApp Sent", "WhatsApp Delivered", "WhatsApp Read"])])
    html = as_operator_a.get(url("report", channel)).content.decode()
    assert "<svg" in html and 'data-metric="delivered"' in html
    sent_row = '<tr data-metric="Sent"><th>Sent</th><td class="num">2</td><td class="num"></td><td class="num">2</td>'
    assert sent_row in html
    assert '<tr data-metric="Delivered"><th>Delivered</th><td class="num">1</td><td class="num">50.0 %</td>' in html


def test_the_changelist_highlights_the_channel(channel, as_operator_a, as_operator_b):
    html = as_operator_a.get(reverse("admin:channels_channel_changelist")).content.decode()
    assert "channel-health-highlighted" in html
    assert "Quality rating dropped from GREEN to RED." in html
    assert reverse("admin:channels_channel_health", args=[channel.pk]) in html
    assert "channel-health" not in as_operator_b.get(reverse("admin:channels_channel_changelist")).content.decode()


def test_check_now_for_operators_only(channel, as_operator_a, as_support_a, as_operator_b,
                                      django_capture_on_commit_callbacks):
    check_url = reverse("admin:channels_channel_health_check", args=[channel.pk])
    assert as_operator_a.get(check_url).status_code == 405  # a GET never asks the platform
    assert as_support_a.post(check_url).status_code == 403
    assert as_operator_b.post(check_url).status_code == 404
    assert not ChannelHealthCheck.objects.filter(status="pending").exists()

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = as_operator_a.post(check_url, follow=True)
    assert "A health check was requested" in response.content.decode()
    (waiting,) = ChannelHealthCheck.objects.filter(status="pending")
    assert len(callbacks) == 1  # the task is handed to a worker after the commit
    response = as_operator_a.post(check_url, follow=True)
    assert "already waiting" in response.content.decode()
    assert ChannelHealthCheck.objects.filter(status="pending").count() == 1
    assert health_tasks.health_check(waiting.pk) == "attention"  # still RED


def test_the_channel_page_shows_the_health(channel, as_support_a, as_operator_b):
    change = reverse("admin:channels_channel_change", args=[channel.pk])
    html = as_support_a.get(change).content.decode()
    assert "channel-health-highlighted" in html and "Quality rating dropped from GREEN to RED." in html
    assert TOKEN not in html
    assert as_operator_b.get(change).status_code == 404
