"""The messaging platforms, one adapter module each; `adapter_for(channel_type)` picks one.

| type | module | platform |
| --- | --- | --- |
| whatsapp, messenger, instagram | `meta.py` | Meta's Graph API (`MKTOPS_META_GRAPH_URL`) |
| viber | `viber.py` | Viber REST bot API (`MKTOPS_VIBER_API_URL`) |
| sms | `sms.py` | Twilio Programmable Messaging (`MKTOPS_SMS_API_URL`) |
| email | `email.py` | DNS (SPF, DKIM; `MKTOPS_DNS_RESOLVER`) and the tenant's SMTP server |

The contract every adapter keeps is in `base.py`: `identity_fields`, `validate`, `fetch_account`,
`send_test`, and the two errors `PlatformRefused` / `PlatformUnavailable`.
"""

from __future__ import annotations

from channels.providers.base import (
    Account,
    Adapter,
    FieldSpec,
    PlatformError,
    PlatformRefused,
    PlatformUnavailable,
    SentMessage,
)
from channels.providers.email import EmailAdapter
from channels.providers.meta import InstagramAdapter, MessengerAdapter, WhatsAppAdapter
from channels.providers.sms import SmsAdapter
from channels.providers.viber import ViberAdapter

ADAPTERS: dict[str, Adapter] = {
    adapter.channel_type: adapter
    for adapter in (WhatsAppAdapter(), ViberAdapter(), MessengerAdapter(), InstagramAdapter(), SmsAdapter(),
                    EmailAdapter())
}
CHANNEL_TYPES = tuple(ADAPTERS)


def adapter_for(channel_type: str) -> Adapter:
    """The adapter of `channel_type` ("whatsapp", "viber", "messenger", "instagram", "sms", "email")."""
    try:
        return ADAPTERS[channel_type]
    except KeyError:
        raise ValueError(f"No platform adapter for channel type {channel_type!r}.") from None


__all__ = ["Account", "Adapter", "FieldSpec", "PlatformError", "PlatformRefused", "PlatformUnavailable",
           "SentMessage", "adapter_for", "ADAPTERS", "CHANNEL_TYPES"]
