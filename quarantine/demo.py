"""The demo's quarantine: a few delivery reports as providers send them, through the same intake as
the API, so the list has entries with their evidence (hard, soft, SMS, push, a complaint)."""

from datetime import timedelta

from mktops import clock
from quarantine.intake import delivery_reports_ingest
from quarantine.models import QuarantineEntry

_EMAIL = [
    ("ghost.user@example.com", "550 5.1.1 <ghost.user@example.com>: Recipient address rejected: User unknown"),
    ("old.domain@acme-legacy.example", "550 5.1.2 Host or domain name not found"),
    ("complainer@example.org", "Feedback-Type: abuse\nUser-Agent: demo-fbl/1.0\nVersion: 1"),
]
_FULL = ("full.mailbox@example.net", "452 4.2.2 The email account that you tried to reach is over quota")


def _reports(now) -> list[dict]:
    items = [{"channel": "email", "address": address, "provider": "smtp", "delivery_id": "demo-spring-sale",
              "time": (now - timedelta(hours=2)).timestamp(), "raw": raw} for address, raw in _EMAIL]
    items[2]["kind"] = "complaint"
    items += [{"channel": "email", "address": _FULL[0], "provider": "smtp", "delivery_id": f"demo-weekly-{day}",
               "time": (now - timedelta(days=day)).timestamp(), "raw": _FULL[1]} for day in range(1, 4)]
    items.append({"channel": "sms", "address": "+15550000003", "provider": "smpp", "delivery_id": "demo-sms-otp",
                  "time": (now - timedelta(hours=5)).timestamp(),
                  "raw": "id:7 sub:001 dlvrd:000 submit date:2612011000 done date:2612011001 stat:UNDELIV "
                         "err:001 text:Your code"})
    items.append({"channel": "push", "address": "demo-expired-device-token", "provider": "fcm",
                  "delivery_id": "demo-push-cart", "time": (now - timedelta(hours=1)).timestamp(),
                  "raw": '{"error": {"code": 404, "status": "NOT_FOUND", "details": [{"errorCode": "UNREGISTERED"}]}}'})
    return items


def seed(*, tenant, users, out) -> None:
    if QuarantineEntry.objects.filter(tenant=tenant).exists():
        return
    outcome = delivery_reports_ingest(tenant=tenant, items=_reports(clock.now()))
    if outcome.rejected:
        out.write(f"  quarantine: demo reports refused: {outcome.rejected}")
    out.write(f"  quarantine: {outcome.accepted} delivery reports learned")
