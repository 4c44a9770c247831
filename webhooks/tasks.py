"""What django-q2 executes. Thin: the rules are in webhooks.services."""

from __future__ import annotations

import logging
from datetime import timedelta
from time import sleep

from django.db.models import Q

from mktops import clock
from mktops.jobs import JobStatus, claim, due_ids, enqueue
from webhooks.models import Endpoint, EndpointStatus, Message
from webhooks.services import delivery

log = logging.getLogger(__name__)

BATCH = 50
# a retry due within this many seconds (the first one, 5 s) is waited for in the task
WAIT_IN_TASK_SECONDS = 10


def _due(endpoint_id: int) -> list[int]:
    # oldest first: one endpoint's deliveries go out in event order
    ids = due_ids(Message, limit=BATCH, extra=Q(endpoint_id=endpoint_id))
    return sorted(ids)


def deliver_endpoint(endpoint_id: int, wait_seconds: int = WAIT_IN_TASK_SECONDS) -> int:
    """Send this endpoint's due messages one after the other, oldest first. Returns deliveries made.

    One task per endpoint: a slow endpoint holds up only its own queue. A retry due within
    `wait_seconds` is waited for here; later ones go back to the sweeper.
    """
    delivered = 0
    while True:
        if not Endpoint.objects.filter(pk=endpoint_id, status=EndpointStatus.ACTIVE).exists():
            return delivered
        due = _due(endpoint_id)
        if not due:
            if not _wait_for_a_short_retry(endpoint_id, wait_seconds):
                return delivered
            continue
        for pk in due:
            # one row claimed at a time: its lease covers one attempt (15 s at most), where a
            # batch's would have to cover every attempt before it
            row = claim(Message, pk)
            if row is None:  # another worker has it, or it was paused meanwhile
                continue
            attempt = delivery.message_send(message=row)
            delivered += bool(attempt and row.status == JobStatus.DONE)


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
