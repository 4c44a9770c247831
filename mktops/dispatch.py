"""The one dispatch point through which the core publishes ingested events.

Feature apps subscribe in their ``AppConfig.ready()``::

    from mktops.dispatch import events_ingested

    def on_events(sender, *, tenant, event_ids, message_event_ids, **kwargs): ...
    events_ingested.connect(on_events, dispatch_uid="archive.on_events")

The signal is sent after the ingest transaction commits, once per API batch,
with the tenant, the ids of the events it stored (duplicates excluded) and,
among them, the ids of the events that carry message content (a SentMessage) and
`sent_event_ids`, the ids of the sent events (SentEvent.CHANNELS), with content or not.
Receivers must be quick: record rows and enqueue work, never call outside
systems. A receiver that raises is logged and does not affect the others or
the API's answer; because the events are already committed, every feature
also has a periodic sweep that picks up anything a failed receiver missed.
"""

import logging

from django.db import transaction
from django.dispatch import Signal

log = logging.getLogger(__name__)

events_ingested = Signal()


def publish_events_ingested(*, tenant, event_ids: list[int], message_event_ids: list[int] = (),
                            sent_event_ids: list[int] | None = None) -> None:
    if not event_ids:
        return

    def send():
        for receiver, result in events_ingested.send_robust(
            sender=type(tenant), tenant=tenant, event_ids=event_ids, message_event_ids=list(message_event_ids),
            sent_event_ids=None if sent_event_ids is None else list(sent_event_ids),
        ):
            if isinstance(result, Exception):
                log.error("events_ingested receiver %r failed: %s", receiver, result, exc_info=result)

    transaction.on_commit(send)
