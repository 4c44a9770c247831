"""The demo's channels: a few Unbound channels of different types (binding needs the real platforms,
which the demo does not reach; the README says how to point the adapters at them)."""

from channels.models import Channel
from channels.services.lifecycle import channel_create

_CHANNELS = [
    ("whatsapp", "Acme Support WhatsApp", "Customer service number; bind with the WABA's phone number ID"),
    ("sms", "Acme OTP sender", "One-time codes and delivery notices"),
    ("email", "news.acme.example", "Newsletter sending domain"),
]


def seed(*, tenant, users, out) -> None:
    if Channel.objects.filter(tenant=tenant).exists():
        return
    for channel_type, name, remarks in _CHANNELS:
        channel_create(tenant=tenant, channel_type=channel_type, name=name, remarks=remarks,
                       prerequisite_confirmed=True, by=users["operator"])
    out.write(f"  channels: {len(_CHANNELS)} unbound channels")
