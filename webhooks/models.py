"""Webhooks: a tenant's endpoints, one delivery row per event and endpoint, one row per attempt.

The event types and the zone each belongs to are data here (`EVENT_TYPES`): a
tenant subscribes only to the types of the zones it bought (services).
"""

from __future__ import annotations

import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models

from mktops import clock
from mktops.crypto import EncryptedTextField
from mktops.jobs import ACTIVE, Job, JobStatus
from mktops.models import Tenant

# event type -> (zone, when it is sent); the order is the order of the checkboxes
EVENT_TYPES: dict[str, tuple[int, str]] = {
    "receipt.receipt_validated": (1, "a receipt matching the receipt module's conditions is validated"),
    "form.surveycake_submitted": (1, "a survey form is submitted"),
    "pnp.status_updated": (1, "a notification message's delivery status changes, including sent successfully"),
    "prize.points_added": (1, "points are granted"),
    "message.first_open": (2, "a contact opens a message for the first time"),
}
EVENT_TYPE_CHOICES = [(code, code) for code in EVENT_TYPES]
ZONES = (1, 2)


def new_webhook_id() -> str:
    # the Standard Webhooks "webhook-id": unique per message, the same on every retry
    return f"msg_{uuid.uuid4().hex}"


class EndpointStatus(models.TextChoices):
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    DISABLED = "disabled", "Disabled"


class Endpoint(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_endpoints")
    name = models.CharField(max_length=100)
    url = models.URLField("URL", max_length=2000)
    event_types = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=EndpointStatus.choices, default=EndpointStatus.ACTIVE)
    # why it is disabled, in our words (the far side answered 410, five days of failures)
    status_reason = models.CharField(max_length=300, blank=True, default="")
    status_changed_at = models.DateTimeField(default=clock.now)
    secret = EncryptedTextField(blank=True, default="")
    # during a rotation overlap the old secret keeps signing alongside until then
    previous_secret = EncryptedTextField(blank=True, default="")
    previous_secret_until = models.DateTimeField(null=True, blank=True)
    # the first failure of the current uninterrupted run of failures; None while healthy
    failing_since = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["tenant", "name", "pk"]
        verbose_name = "webhook endpoint"

    def __str__(self):
        return self.name

    def signing_secrets(self, now=None) -> list[str]:
        """The secrets that sign now: the current one, and the previous during its overlap."""
        now = now or clock.now()
        secrets = [self.secret]
        if self.previous_secret and self.previous_secret_until and self.previous_secret_until > now:
            secrets.append(self.previous_secret)
        return secrets


# the statuses the queue and the operators' views look up by index (a "done" row is found by its event)
UNFINISHED = (*ACTIVE, JobStatus.FAILED)


class Message(Job):
    """One event for one endpoint: the delivery row, retried on its own schedule."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    # no index of its own: (endpoint, event_id) and (endpoint, status, id) start with it, and every
    # index is one more write per delivery row
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="messages", db_index=False)
    # the ingested event (no database reference: events are pruned by retention)
    event_id = models.BigIntegerField(null=True, blank=True)
    # unique by a constraint (below), not `unique=True`: that would add a second, LIKE-only index
    webhook_id = models.CharField(max_length=40, default=new_webhook_id, editable=False)
    event_type = models.CharField(max_length=64, choices=EVENT_TYPE_CHOICES)
    # the exact body POSTed on every attempt (its bytes are what is signed)
    body = models.TextField()
    is_test = models.BooleanField(default=False)
    # Job's two indexes, made partial below: a delivered row (the great majority) leaves them
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING)
    next_attempt_at = models.DateTimeField(null=True, blank=True)

    # an attempt takes at most the 15 s timeout; a worker gone longer than this is dead
    LEASE = timedelta(minutes=2)

    class Meta:
        ordering = ["-pk"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        constraints = [
            # the receiver and the sweep may both see one event: one row per endpoint
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_message_endpoint_event"),
            models.UniqueConstraint(fields=["webhook_id"], name="webhook_message_webhook_id"),
        ]
        # Every index is written again by each of a row's three writes (insert, claim, outcome),
        # none of which PostgreSQL can do in place: the status indexes hold only rows still owed
        # or failed (what the queue, the backlog, the health panel and recovery read), so the
        # outcome "done" touches neither, nor the index of due times (done rows have none).
        indexes = [
            models.Index(fields=["endpoint", "status", "id"], name="webhook_message_ep_status",
                         condition=models.Q(status__in=UNFINISHED)),
            models.Index(fields=["status"], name="webhook_message_active", condition=models.Q(status__in=ACTIVE)),
            models.Index(fields=["next_attempt_at"], name="webhook_message_due",
                         condition=models.Q(next_attempt_at__isnull=False)),
        ]

    def __str__(self):
        return f"{self.event_type} → {self.endpoint} ({self.webhook_id})"


class Outcome(models.TextChoices):
    SUCCESS = "success", "Delivered"
    HTTP_ERROR = "http_error", "Answered with an error status"
    REDIRECT = "redirect", "Answered with a redirect (not followed)"
    TIMEOUT = "timeout", "Timed out"
    CONNECTION_REFUSED = "connection_refused", "Connection refused"
    CONNECTION = "connection", "Connection failed"
    TLS = "tls", "TLS handshake or certificate failed"
    DNS = "dns", "Host name did not resolve"
    BLOCKED = "blocked", "Blocked address"
    BAD_URL = "bad_url", "URL refused"


class Attempt(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="attempts",
                                 db_index=False)  # (endpoint, -at) starts with it
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveIntegerField()
    at = models.DateTimeField(default=clock.now)
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    http_status = models.PositiveIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    # what we say happened, in our words
    error = models.CharField(max_length=300, blank=True, default="")
    # the start of the far side's answer: data, shown escaped in the log, never in a sentence
    response_excerpt = models.TextField(blank=True, default="")
    request_headers = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [models.Index(fields=["endpoint", "-at"], name="webhook_attempt_ep_at")]

    def __str__(self):
        return f"#{self.number} {self.get_outcome_display()}"


class SecretReveal(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    endpoint = models.ForeignKey(Endpoint, on_delete=models.CASCADE, related_name="reveals")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-at", "-pk"]

    def __str__(self):
        return f"{self.user} revealed the secret of {self.endpoint} at {self.at:%Y-%m-%d %H:%M}"
