"""Send test message: one message from a Bound channel to an address or number the operator gives.

The platform is asked while the operator waits (like every Test connection button), with the
adapters' timeout; its answer, the message id or the refusal in our words, is shown and kept as a
`ChannelTestSend` row. A message the platform accepted becomes the same sent event the ingestion
API would record (`Email Sent`, `SMS Sent`, `WhatsApp Sent`, …), through `mktops.ingest` itself, so
the archive keeps a copy and webhooks fire as for any other send. Limited per tenant
(`mktops.ratelimit`): without a limit the button would send messages to anyone, at will.
"""

from __future__ import annotations

import json
import logging
import uuid

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from channels.models import Channel, ChannelState, ChannelTestSend
from channels.providers import PlatformError, adapter_for
from mktops import clock, ratelimit
from mktops.ingest import TenantGone, events_ingest
from mktops.models import EventType

log = logging.getLogger(__name__)

TEXT_MAX = 1000
AUDIT_ACTION = "channels.test_send"
EVENT_SOURCE = "mktops test send"

ERR_NOT_BOUND = "Only a Bound channel can send; this one is {state}. Bind it first."
ERR_TEXT_REQUIRED = "Write the text of the test message."
ERR_TEXT_TOO_LONG = "The test message may be at most {limit} characters; this one has {length}."
MSG_ACCEPTED = "{platform} accepted the message; its id is {message_id}."
MSG_NOT_RECORDED = ("The message was sent, but its sent event could not be recorded ({rule}); the archive and "
                    "webhooks do not have it.")


def channel_test_send(*, channel: Channel, to: str, text: str, by=None) -> ChannelTestSend:
    """Send `text` to `to` from `channel`; the row says what the platform answered."""
    if channel.state != ChannelState.BOUND:
        raise ValidationError({NON_FIELD_ERRORS: ERR_NOT_BOUND.format(state=channel.get_state_display())})
    adapter = adapter_for(channel.channel_type)
    recipient, text = _checked(adapter, to, text)
    try:
        attempt = ratelimit.attempt_start(tenant=channel.tenant, action=AUDIT_ACTION, what="test messages",
                                          user=by, obj=channel)
    except ratelimit.RateLimited as err:
        raise ValidationError({NON_FIELD_ERRORS: err.message}) from err
    row = ChannelTestSend(tenant=channel.tenant, channel=channel, by=by if getattr(by, "is_authenticated", False)
                          else None, to=recipient, text=text, at=clock.now())
    credentials = json.loads(channel.credentials or "{}")
    try:
        sent = adapter.send_test(credentials, to=recipient, text=text)
    except PlatformError as exc:
        row.ok, row.reason, row.message = False, exc.reason, exc.message
    else:
        row.ok, row.message_id = True, sent.message_id[:255]
        row.message = MSG_ACCEPTED.format(platform=adapter.platform, message_id=row.message_id)
        rule = _record_sent_event(channel, adapter, row, credentials)
        if rule:
            row.message += " " + MSG_NOT_RECORDED.format(rule=rule)
    row.save()
    ratelimit.attempt_finish(attempt, ok=row.ok, reason=row.reason, message_id=row.message_id,
                             test_send_id=row.pk)
    return row


def _checked(adapter, to: str, text: str) -> tuple[str, str]:
    errors = {}
    recipient = ""
    try:
        recipient = adapter.validate_recipient(to)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    text = (text or "").strip()
    if not text:
        errors["text"] = [ERR_TEXT_REQUIRED]
    elif len(text) > TEXT_MAX:
        errors["text"] = [ERR_TEXT_TOO_LONG.format(limit=TEXT_MAX, length=len(text))]
    if errors:
        raise ValidationError(errors)
    return recipient, text


def sent_event(channel: Channel, adapter, row: ChannelTestSend, credentials: dict) -> dict:
    """The sent event, in the ingestion API's shape."""
    event = {
        "uid": row.to, "event_code": adapter.sent_event_code, "event_name": adapter.sent_event_name,
        "event_uuid": row.event_uuid, "event_time": int(row.at.timestamp()),
        "event_type": EventType.CAMPAIGN_EVENT, "event_source": EVENT_SOURCE,
        "event_attributes": {"channel_id": channel.public_id, "message_id": row.message_id, "test_send": True},
    }
    if adapter.recipient_attribute:
        event[adapter.recipient_attribute] = row.to
    content = adapter.sent_message_content(credentials, to=row.to, text=row.text, message_id=row.message_id)
    if content is not None:
        event["message"] = content
    return event


def _record_sent_event(channel: Channel, adapter, row: ChannelTestSend, credentials: dict) -> str:
    """Ingest the sent event; returns "" when recorded, else the rule that refused it."""
    row.event_uuid = f"test-send-{uuid.uuid4().hex}"
    try:
        outcome = events_ingest(tenant=channel.tenant, items=[sent_event(channel, adapter, row, credentials)])
    except TenantGone:
        row.event_uuid = ""
        return "the tenant is being deleted"
    if outcome.rejected:
        row.event_uuid = ""
        rejection = outcome.rejected[0]
        log.warning("test send of channel %s: sent event refused: %s %s", channel.public_id, rejection.field,
                    rejection.rule)
        return f"{rejection.field} {rejection.rule}"
    return ""


def recent_test_sends(*, channel: Channel, limit: int = 20) -> list[ChannelTestSend]:
    return list(channel.test_sends.select_related("by")[:limit])
