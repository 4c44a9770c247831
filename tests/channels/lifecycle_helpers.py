"""Helpers for the lifecycle tests: channels made through the services, and a channel put in a
state directly (a Bound channel without asking a platform, for the rules that only read the state)."""

from __future__ import annotations

from channels.models import Channel, ChannelState
from channels.services import lifecycle


def make_channel(tenant, *, by=None, channel_type="whatsapp", name="Support line", remarks="") -> Channel:
    return lifecycle.channel_create(tenant=tenant, channel_type=channel_type, name=name, remarks=remarks,
                                    prerequisite_confirmed=True, by=by)


def put_in_state(channel: Channel, state: str, *, account_id: str = "") -> Channel:
    """The row as a finished bind leaves it; the bind itself is tested against the platform servers."""
    account_id = account_id or (f"acct-{channel.pk}" if state in (ChannelState.BOUND, ChannelState.BINDING) else "")
    Channel.objects.filter(pk=channel.pk).update(state=state, account_id=account_id,
                                                 account_details={"verified_name": "Acme"} if account_id else {})
    channel.refresh_from_db()
    return channel
