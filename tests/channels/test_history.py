"""Every state change of a channel is a history row (who, when, from, to, why), in order, through a
whole life: create, a refused bind, a bind, a rebind, an unbind. The unbind page shows the
channel's traffic of the last 7 days from the events attributed to it."""

from datetime import timedelta

import pytest
from django.urls import reverse

from channels import tasks
from channels.models import ChannelState
from channels.services import lifecycle as svc
from mktops import clock as mk_clock
from tests.channels.lifecycle_helpers import make_channel, put_in_state
from tests.channels.test_bind import NUMBER, TOKEN, WABA
from tests.conftest import make_event
from tests.fixtures.platforms import WHATSAPP_SCOPES

pytestmark = pytest.mark.django_db


def run_bind(action, channel, credentials, by, capture):
    with capture(execute=False):
        job = action(channel=channel, credentials=credentials, by=by)
    tasks.bind_run(job.pk)
    channel.refresh_from_db()


def test_a_whole_life_in_the_history(platforms, settings, tenant_a, operator_a, csm, clock,
                                     django_capture_on_commit_callbacks):
    platforms.configure(settings)
    platforms.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES)
    platforms.add_whatsapp_number(NUMBER, TOKEN, verified_name="Acme Shop")
    platforms.add_whatsapp_number("106540352243000", TOKEN, verified_name="Acme Outlet")
    good = {"phone_number_id": NUMBER, "waba_id": WABA, "access_token": TOKEN}
    channel = make_channel(tenant_a, by=operator_a)
    clock.advance(timedelta(minutes=1))
    run_bind(svc.channel_bind, channel, {**good, "access_token": "EAAGunknownTokenXXXXXXXX"}, operator_a,
             django_capture_on_commit_callbacks)
    clock.advance(timedelta(minutes=1))
    run_bind(svc.channel_bind, channel, good, operator_a, django_capture_on_commit_callbacks)
    clock.advance(timedelta(minutes=1))
    run_bind(svc.channel_rebind, channel, {**good, "phone_number_id": "106540352243000"}, operator_a,
             django_capture_on_commit_callbacks)
    clock.advance(timedelta(minutes=1))
    svc.channel_unbind(channel=channel, by=csm, reason="contract ended")

    rows = list(channel.history.order_by("at", "id"))
    assert [(r.from_state, r.to_state, r.by) for r in rows] == [
        ("", "unbound", operator_a),
        ("unbound", "binding", operator_a), ("binding", "bind_failed", None),
        ("bind_failed", "binding", operator_a), ("binding", "bound", None),
        ("bound", "binding", operator_a), ("binding", "bound", None),
        ("bound", "unbound", csm),
    ]
    assert all(r.why for r in rows)
    assert [r.at for r in rows] == sorted(r.at for r in rows) and rows[-1].at > rows[0].at
    assert "access token" in rows[2].why
    assert (rows[5].account_id, rows[5].account_details["verified_name"]) == (NUMBER, "Acme Shop")
    assert rows[6].account_details["verified_name"] == "Acme Outlet"
    assert (rows[7].account_id, rows[7].why) == ("106540352243000", "Unbound by a CSM: contract ended")


def test_edits_are_not_state_changes(tenant_a, operator_a):
    channel = make_channel(tenant_a, by=operator_a)
    svc.channel_edit(channel=channel, name="New name", remarks="", by=operator_a)
    assert channel.history.count() == 1


def test_the_unbind_page_counts_the_channels_events_of_the_last_7_days(api, as_csm, tenant_a):
    channel = put_in_state(make_channel(tenant_a), ChannelState.BOUND)
    other = make_channel(tenant_a, name="Other")
    now = int(mk_clock.now().timestamp())
    events = [
        make_event(1, event_name="WhatsApp Sent", event_time=now - 3600,
                   event_attributes={"channel_id": channel.public_id}),
        make_event(2, event_name="WhatsApp Sent", event_time=now - 2 * 86400,
                   event_attributes={"channel_id": channel.public_id}),
        make_event(3, event_name="WhatsApp Delivered", event_time=now - 86400,
                   event_attributes={"channel_id": channel.public_id}),
        make_event(4, event_name="WhatsApp Sent", event_time=now - 9 * 86400,    # too old
                   event_attributes={"channel_id": channel.public_id}),
        make_event(5, event_name="WhatsApp Sent", event_time=now - 3600,         # another channel
                   event_attributes={"channel_id": other.public_id}),
    ]
    assert api("/events", {"events": events}).status_code == 200
    response = as_csm.get(reverse("admin:channels_channel_unbind", args=[channel.pk]))
    usage = response.context["usage"]
    assert usage.total == 3
    assert usage.by_event == [("WhatsApp Sent", 2), ("WhatsApp Delivered", 1)]
    page = response.content.decode()
    assert "3 event(s) attributed to this channel" in page and "WhatsApp Delivered" in page
