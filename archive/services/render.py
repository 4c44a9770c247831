"""What is stored: an RFC 5322 .eml for Email, JSON for SMS and Push.

Rendering is deterministic (fixed MIME boundary, times from the event), so a
retried write produces the same bytes and the same SHA-256.
"""

from __future__ import annotations

import email.policy
import functools
import json
import re
from email.headerregistry import HeaderRegistry
from email.message import EmailMessage
from email.utils import format_datetime

# headers a sender's `headers` may not override: we set them from the event
_RESERVED = {"from", "to", "cc", "subject", "date", "message-id", "mime-version", "content-type",
             "content-transfer-encoding", "reply-to"}
_HEADER_NAME = re.compile(r"^[!-9;-~]{1,76}$")
CAMPAIGN_HEADER = "X-Campaign-Id"
STRIPPED_HEADER = "X-Archive-Attachments-Stripped"


class _HeaderClasses(HeaderRegistry):
    """The standard registry, but each header class is made once: HeaderRegistry builds a
    new class (`type(...)`) for every header of every message, a third of the render time."""

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one module-level instance, kept for good
    def __getitem__(self, name):
        return super().__getitem__(name)


# email.policy.SMTP (CRLF line ends), same output
_POLICY = email.policy.SMTP.clone(header_factory=_HeaderClasses())


def attachments_named(content: dict) -> list[str]:
    return [f"{a.get('name', '?')} ({a.get('size', 0)} bytes)" for a in content.get("attachments") or []]


def _one_line(value) -> str:
    return " ".join(str(value or "").split())


def render_email(*, message_id: str, event, content: dict) -> bytes:
    msg = EmailMessage(policy=_POLICY)
    msg["From"] = _one_line(content.get("from"))
    to = content.get("to")
    msg["To"] = ", ".join(to) if isinstance(to, list) else _one_line(to)
    if content.get("cc"):
        msg["Cc"] = ", ".join(content["cc"])
    if content.get("reply_to"):
        msg["Reply-To"] = _one_line(content["reply_to"])
    msg["Subject"] = _one_line(content.get("subject"))
    msg["Date"] = format_datetime(event.event_time)
    msg["Message-ID"] = f"<{message_id}@archive.mktops>"
    msg[CAMPAIGN_HEADER] = event.campaign_id or "none"
    msg["X-Event-Uuid"] = event.event_uuid
    for name, value in sorted((content.get("headers") or {}).items()):
        if _HEADER_NAME.match(name) and name.lower() not in _RESERVED:
            msg[name] = _one_line(value)
    stripped = attachments_named(content)
    if stripped:
        msg[STRIPPED_HEADER] = "; ".join(stripped)
    html, text = content.get("html") or "", content.get("text") or ""
    # the .eml holds what was sent: a text part only when the sender gave one (none is
    # made up from the HTML), the HTML part only when there was HTML
    if html and text:
        msg.set_content(text, subtype="plain", charset="utf-8")
        msg.add_alternative(html, subtype="html", charset="utf-8")
        msg.set_boundary(f"=_archive_{message_id}")
    elif html:
        msg.set_content(html, subtype="html", charset="utf-8")
    else:
        msg.set_content(text, subtype="plain", charset="utf-8")
    return msg.as_bytes()


def _iso(dt) -> str:
    return dt.isoformat().replace("+00:00", "Z") if dt else None


def render_json(*, message_id: str, event, content: dict, channel: str, platform: str, sender: str) -> bytes:
    if channel == "sms":
        recipient, sender, body = content.get("to"), content.get("sender"), {"body": content.get("body", "")}
    else:
        recipient = content.get("token")
        body = {"title": content.get("title", ""), "body": content.get("body", ""), "data": content.get("data", {})}
    doc = {
        "message_id": message_id,
        "channel": channel,
        "platform": platform or None,
        "recipient": recipient,
        "sender": sender,
        "content": body,
        "campaign_id": event.campaign_id or None,
        "alert_id": (event.event_attributes or {}).get("alert_id"),
        "contact_uid": event.uid,
        "event_name": event.event_name,
        "event_uuid": event.event_uuid,
        "sent_at": _iso(event.event_time),
        "received_at": _iso(event.received_at),
    }
    return json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False).encode()


def message_render(*, row, event, content: dict, tenant) -> bytes:
    if row.channel == "email":
        return render_email(message_id=row.message_id, event=event, content=content)
    return render_json(message_id=row.message_id, event=event, content=content, channel=row.channel,
                       platform=row.platform, sender=tenant.app_name or tenant.name)


def content_type_of(channel: str) -> str:
    return "message/rfc822" if channel == "email" else "application/json"
