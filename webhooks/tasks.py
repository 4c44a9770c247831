"""What django-q2 executes. Thin: the rules are in webhooks.services."""

from __future__ import annotations

import logging
import time
from datetime import timedelta
from time import sleep

from mktops import clock
from mktops.jobs import JobStatus, due_ids, enqueue
from webhooks import http
from webhooks.models import Endpoint, Message
from webhooks.services import delivery

log = logging.getLogger(__name__)

# a retry due within this many seconds (the first one, 5 s) is waited for in the task
WAIT_IN_TASK_SECONDS = 10
# a task sends one endpoint's messages for about this long, then queues itself again behind the
# other endpoints' tasks: a slow endpoint (up to 15 s an answer) takes turns, it does not keep a worker
SLICE_SECONDS = 30


def deliver_endpoint(endpoint_id: int, wait_seconds: int = WAIT_IN_TASK_SECONDS, batch: int | None = None,
                     slice_seconds: float = SLICE_SECONDS) -> int:
    """Send this endpoint's due messages in event order, a batch at a time over one keep-alive
    connection. Returns deliveries made.

    One task per endpoint: a slow endpoint holds up only its own queue. While another worker is
    sending this endpoint's messages the task ends at once (that worker carries on with the rest).
    A retry due within `wait_seconds` is waited for here; later ones go back to the sweeper. After
    `slice_seconds` the rest is handed back and the task enqueued again, behind the others.
    """
    until = time.monotonic() + slice_seconds
    delivered = 0
    sender: http.Sender | None = None
    try:
        while True:
            rows = delivery.messages_claim_next(endpoint_id=endpoint_id, limit=batch or delivery.BATCH)
            if rows is None:
                return delivered
            if not rows:
                if not _wait_for_a_short_retry(endpoint_id, wait_seconds):
                    return delivered
                continue
            endpoint = Endpoint.objects.filter(pk=endpoint_id).first()
            if endpoint is None:  # deleted meanwhile, its messages with it
                return delivered
            if sender is None or sender.url != endpoint.url:
                if sender is not None:
                    sender.close()
                sender = http.Sender(endpoint.url)
            delivered += delivery.messages_send(endpoint=endpoint, messages=rows, sender=sender, until=until)
            if time.monotonic() >= until:
                enqueue(delivery.TASK, endpoint_id, wait_seconds, batch, slice_seconds)
                return delivered
    finally:
        if sender is not None:
            sender.close()


def _wait_for_a_short_retry(endpoint_id: int, wait_seconds: int) -> bool:
    soon = Message.objects.filter(endpoint_id=endpoint_id, status=JobStatus.RETRYING,
                                  next_attempt_at__lte=clock.now() + timedelta(seconds=wait_seconds)) \
        .order_by("next_attempt_at").values_list("next_attempt_at", flat=True).first()
    if soon is None:
        return False
    sleep(max(0.0, (soon - clock.now()).total_seconds()))
    return True


def sweep() -> dict:
    """Periodic: rows a receiver missed, due and abandoned rows (one task per endpoint), the 5-day rule."""
    created_for = delivery.messages_backfill()
    due = set(Message.objects.filter(pk__in=due_ids(Message, limit=5000)).values_list("endpoint_id", flat=True))
    endpoints = sorted(due | set(created_for))
    for endpoint_id in endpoints:
        enqueue("webhooks.tasks.deliver_endpoint", endpoint_id)
    disabled = delivery.endpoints_disable_failing()
    return {"endpoints": len(endpoints), "disabled": disabled}
