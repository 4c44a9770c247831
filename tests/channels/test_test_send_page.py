"""The Send test message page: operators send, support 403, tenant B 404, a GET never sends, no secret."""

import pytest
from django.urls import reverse

from channels.models import ChannelTestSend
from mktops.models import Event
from tests.channels.platform_helpers import TOKEN, whatsapp_channel


@pytest.fixture
def channel(tenant_a, platforms, settings):
    platforms.configure(settings)
    return whatsapp_channel(tenant_a, platforms)


def url(channel):
    return reverse("admin:channels_channel_test_send", args=[channel.pk])


def test_an_operator_sends_and_sees_the_platforms_answer(channel, platforms, as_operator_a):
    page = as_operator_a.get(url(channel))
    assert page.status_code == 200 and 'id="test-send-form"' in page.content.decode()
    assert platforms.sent == []  # a GET never sends

    response = as_operator_a.post(url(channel), {"to": "+4915112345678", "text": "Hello"}, follow=True)
    html = response.content.decode()
    row = ChannelTestSend.objects.get()
    assert row.ok and row.message_id in html and "accepted" in html
    assert Event.objects.filter(event_uuid=row.event_uuid, event_name="WhatsApp Sent").exists()
    assert TOKEN not in html


def test_bad_input_is_shown_beside_the_field(channel, platforms, as_operator_a):
    response = as_operator_a.post(url(channel), {"to": "nobody", "text": ""})
    html = response.content.decode()
    assert response.status_code == 200
    assert "WhatsApp number must be a phone number in international form" in html
    assert "Write the text of the test message." in html
    assert platforms.sent == [] and not ChannelTestSend.objects.exists()


def test_a_refusal_is_shown_in_our_words(channel, platforms, as_operator_a):
    platforms.add_meta_token(TOKEN, is_valid=False)
    html = as_operator_a.post(url(channel), {"to": "+4915112345678", "text": "Hello"}, follow=True).content.decode()
    assert "Meta says the access token is not valid" in html
    assert "Cannot parse access token" not in html


def test_support_may_not_send(channel, platforms, as_support_a):
    assert as_support_a.get(url(channel)).status_code == 403
    assert as_support_a.post(url(channel), {"to": "+4915112345678", "text": "Hello"}).status_code == 403
    assert platforms.sent == [] and not ChannelTestSend.objects.exists()


def test_another_tenant_gets_404(channel, platforms, as_operator_b):
    assert as_operator_b.get(url(channel)).status_code == 404
    assert as_operator_b.post(url(channel), {"to": "+4915112345678", "text": "Hello"}).status_code == 404
    assert platforms.sent == []


def test_a_csm_may_send(channel, as_csm):
    response = as_csm.post(url(channel), {"to": "+4915112345678", "text": "Hello"})
    assert response.status_code == 302 and ChannelTestSend.objects.get().ok
