"""Bound channels for the platform half's tests, bound the real way: the lifecycle's services and
its bind task against the loopback platforms."""

from __future__ import annotations

from channels import tasks
from channels.models import Channel, ChannelState
from channels.services import lifecycle
from tests.fixtures.platforms import WHATSAPP_SCOPES

TOKEN = "EAAGhealth" + "c3" * 20
NUMBER_ID = "106540352242922"
VIBER_TOKEN = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
SMS_SID = "AC" + "0123456789abcdef" * 2
SMS_TOKEN = "f" * 32


def bind(tenant, channel_type: str, credentials: dict, *, name: str = "Support line", by=None) -> Channel:
    channel = lifecycle.channel_create(tenant=tenant, channel_type=channel_type, name=name,
                                       prerequisite_confirmed=True, by=by)
    job = lifecycle.channel_bind(channel=channel, credentials=credentials, by=by)
    outcome = tasks.bind_run(job.pk)
    channel.refresh_from_db()
    assert channel.state == ChannelState.BOUND, (outcome, channel.failure_message)
    return channel


def whatsapp_channel(tenant, platforms, *, expires_at=None, name: str = "Support line", **number) -> Channel:
    platforms.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES, expires_at=expires_at)
    platforms.add_whatsapp_number(NUMBER_ID, TOKEN, **number)
    return bind(tenant, "whatsapp", {"phone_number_id": NUMBER_ID, "waba_id": "102290129340398",
                                     "access_token": TOKEN}, name=name)


def viber_channel(tenant, platforms) -> Channel:
    platforms.add_viber_bot(VIBER_TOKEN, bot_id="pa:5734123410023")
    return bind(tenant, "viber", {"auth_token": VIBER_TOKEN}, name="Viber bot")


def sms_channel(tenant, platforms, *, sender: str = "ACME") -> Channel:
    platforms.add_sms_account(SMS_SID, SMS_TOKEN, senders=[sender])
    return bind(tenant, "sms", {"sender_id": sender, "account_sid": SMS_SID, "auth_token": SMS_TOKEN},
                name="SMS sender")
