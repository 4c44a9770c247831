"""Realistic demo data: contacts, activity events and sent messages.

Deterministic (seeded random, uuid5 event ids), so running it twice stores
nothing new: the second run's events are all counted as duplicates.
"""

import hashlib
import hmac
import random
import uuid
from datetime import datetime, timedelta

from django.conf import settings

from mktops import clock
from mktops.models import ApiKey, SentEvent

# Feature apps add their own demo configuration (mktops imports no feature app): each seeder is
# called as seeder(tenant=..., users={role: user}, out=stdout) by `manage.py seed_demo`, before
# the events are ingested, and must be idempotent like the rest of the demo.
_seeders: list = []


def register_demo_seeder(seeder) -> None:
    if seeder not in _seeders:
        _seeders.append(seeder)


def demo_seeders() -> list:
    return list(_seeders)


NAMESPACE = uuid.UUID("6f1c2b1e-8f65-4a8a-9d0c-2f7f3c1d9a10")
FIRST = ["Asha", "Ben", "Chloe", "Diego", "Elif", "Farah", "Goran", "Hana", "Ivan", "Jun", "Kofi",
         "Lena", "Mateo", "Nadia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera"]
LAST = ["Patel", "Smith", "Garcia", "Müller", "Okafor", "Tanaka", "Rossi", "Kowalski", "Nguyen",
        "Silva", "Haddad", "Larsen", "Dubois", "Kim"]
CITIES = ["Mumbai", "Berlin", "São Paulo", "Lagos", "Tokyo", "Austin", "Warsaw", "Lisbon"]
USER_EVENTS = [("App Opened", "MOE_APP_OPENED"), ("Product Viewed", "PRODUCT_VIEWED"),
               ("Added To Cart", "ADD_TO_CART"), ("Purchase", "PURCHASE"), ("Search", "SEARCH")]
CAMPAIGNS = [("cmp-spring-sale", "Spring sale: 20% off everything"),
             ("cmp-welcome", "Welcome to Acme"),
             ("cmp-cart-reminder", "You left something in your cart"),
             ("cmp-price-drop", "A price dropped on your wishlist")]


def demo_api_key(tenant_slug: str) -> str:
    """The demo tenant's API key, derived from SECRET_KEY so that re-seeding keeps it."""
    digest = hmac.new(settings.SECRET_KEY.encode(), f"demo-api-key:{tenant_slug}".encode(),
                      hashlib.sha256).hexdigest()
    return f"{ApiKey.PREFIX}demo_{digest[:40]}"


def _contact(rng: random.Random, i: int) -> dict:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    return {
        "uid": f"user-{i:05d}",
        "email": f"{first.lower()}.{last.lower().replace('ü', 'u')}{i}@example.com",
        "mobile": f"+1555{i:07d}",
        "attributes": {"first_name": first, "last_name": last, "city": rng.choice(CITIES),
                       "plan": rng.choice(["free", "pro", "enterprise"]),
                       "lifetime_value": round(rng.uniform(0, 2500), 2)},
        "token": hashlib.sha1(f"token-{i}".encode()).hexdigest() * 2,  # noqa: S324 - not security
        "platform": rng.choice(["android", "ios", "web"]),
    }


def _message(name: str, c: dict, campaign: tuple[str, str]) -> dict:
    cid, subject = campaign
    if name == SentEvent.EMAIL:
        first = c["attributes"]["first_name"]
        return {
            "from": "Acme <news@acme.example>", "to": c["email"], "subject": subject,
            "text": f"Hi {first},\n\n{subject}.\nShop now: https://acme.example/{cid}\n",
            "html": (f"<html><body><h1>{subject}</h1><p>Hi {first},</p>"
                     f'<p><a href="https://acme.example/{cid}">Shop now</a></p></body></html>'),
            "headers": {"X-Campaign": cid},
            "attachments": [],
        }
    if name == SentEvent.SMS:
        return {"to": c["mobile"], "sender": "ACME", "body": f"{subject}. Reply STOP to opt out."}
    platform = SentEvent.channel_of(name)[1]
    return {"platform": platform, "token": c["token"], "title": subject,
            "body": f"Hi {c['attributes']['first_name']}, {subject.lower()}", "data": {"campaign_id": cid}}


def demo_events(*, contacts: int = 300, events: int = 5000, seed: int = 7, now: datetime | None = None):
    """Yield API event dicts: user actions and Email/SMS/Push sent events with content."""
    rng = random.Random(seed)  # noqa: S311 - demo data, not security
    now = now or clock.now()
    people = [_contact(rng, i) for i in range(contacts)]
    # a push goes to the contact's own device, so its event names that platform
    push = {platform: name for name, (_, platform) in SentEvent.CHANNELS.items() if platform}
    for n in range(events):
        c = rng.choice(people)
        when = now - timedelta(seconds=rng.randint(60, 25 * 24 * 3600))
        event = {
            "uid": c["uid"], "event_uuid": str(uuid.uuid5(NAMESPACE, f"demo-{seed}-{n}")),
            "event_time": int(when.timestamp()), "user_attributes": c["attributes"],
            "email_id": c["email"], "mobile_number": c["mobile"],
        }
        if rng.random() < 0.4:
            name = rng.choice([SentEvent.EMAIL, SentEvent.SMS, push[c["platform"]]])
            campaign = rng.choice(CAMPAIGNS)
            platform = SentEvent.channel_of(name)[1]
            event.update(
                event_name=name, event_code=SentEvent.CODES[name], event_type="CAMPAIGN_EVENT",
                event_source="MOENGAGE",
                event_attributes={"campaign_id": campaign[0], "campaign_name": campaign[1],
                                  "campaign_channel": SentEvent.channel_of(name)[0]},
                message=_message(name, c, campaign),
            )
            if platform:
                event["push_id"] = c["token"]
                event["device_attributes"] = {"platform": platform}
        else:
            name, code = rng.choice(USER_EVENTS)
            event.update(event_name=name, event_code=code,
                         event_attributes={"screen": rng.choice(["home", "search", "product", "cart"])},
                         device_attributes={"platform": c["platform"]})
        yield event
