"""Channels: the messaging identities a tenant sends from, their history and the bind job.

A channel stands for exactly one account on one platform (a WhatsApp business
number, a Facebook Page, …). It is created Unbound, goes to Binding while a
`ChannelBindJob` asks the platform, and ends Bound or Bind failed. Every state
change is a `ChannelHistory` row. The types, what each binds to and what the
operator must have done first are data here (`CHANNEL_TYPES`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q

from mktops import clock
from mktops.crypto import EncryptedTextField
from mktops.jobs import Job
from mktops.models import Tenant

NAME_MAX = 50
REMARKS_MAX = 150


@dataclass(frozen=True)
class ChannelTypeInfo:
    label: str
    bound_resource: str
    prerequisite: str  # "" when the type has none


# what each type binds to and what the operator confirms before creating one (issue 17's table)
CHANNEL_TYPES: dict[str, ChannelTypeInfo] = {
    "whatsapp": ChannelTypeInfo(
        "WhatsApp",
        "a WhatsApp business phone number (its phone number ID, in a WhatsApp Business Account)",
        "The WhatsApp Business Account (WABA) is registered and its business verification is completed."),
    "viber": ChannelTypeInfo("Viber", "a Viber business account (bot)", ""),
    "messenger": ChannelTypeInfo(
        "Messenger", "a Facebook Page", "A Facebook Business Manager account is registered."),
    "instagram": ChannelTypeInfo(
        "Instagram", "an Instagram professional account",
        "A Facebook Business Manager account is registered and the Instagram account is linked to a "
        "Facebook Page."),
    "sms": ChannelTypeInfo(
        "SMS", "none: the channel sends under a sender ID",
        "The international SMS sender ID is registered."),
    "email": ChannelTypeInfo(
        "Email", "none: the channel sends from a domain",
        "The sending domain is prepared: its SPF and DKIM records are published."),
}


class ChannelType(models.TextChoices):
    WHATSAPP = "whatsapp", "WhatsApp"
    VIBER = "viber", "Viber"
    MESSENGER = "messenger", "Messenger"
    INSTAGRAM = "instagram", "Instagram"
    SMS = "sms", "SMS"
    EMAIL = "email", "Email"


class ChannelState(models.TextChoices):
    UNBOUND = "unbound", "Unbound"
    BINDING = "binding", "Binding"
    BOUND = "bound", "Bound"
    BIND_FAILED = "bind_failed", "Bind failed"


# the states in which a channel holds (or is claiming) its platform account
HOLDS_ACCOUNT = (ChannelState.BINDING, ChannelState.BOUND)


def new_public_id() -> str:
    # the id events carry in event_attributes.channel_id: random, so no tenant guesses another's
    return f"ch_{secrets.token_hex(10)}"


class Channel(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="channels")
    public_id = models.CharField("channel ID", max_length=32, unique=True, default=new_public_id, editable=False)
    channel_type = models.CharField("channel type", max_length=16, choices=ChannelType.choices)
    # the limits are checked by channels.services first, with a message naming them
    name = models.CharField("channel name", max_length=NAME_MAX)
    remarks = models.CharField(max_length=REMARKS_MAX, blank=True, default="")
    state = models.CharField(max_length=16, choices=ChannelState.choices, default=ChannelState.UNBOUND,
                             db_index=True)
    state_changed_at = models.DateTimeField(default=clock.now)
    prerequisite_confirmed_at = models.DateTimeField(null=True, blank=True)
    # the binding: the platform identity, what the platform says about it, the credentials (JSON, sealed)
    credentials = EncryptedTextField(blank=True, default="")
    account_id = models.CharField("platform account", max_length=255, blank=True, default="")
    account_details = models.JSONField("platform details", default=dict, blank=True)
    granted_scopes = models.JSONField(default=list, blank=True)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    bound_at = models.DateTimeField(null=True, blank=True)
    # why the last bind failed, in our words, and the permissions the platform said are missing
    failure_reason = models.CharField(max_length=64, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")
    missing_permissions = models.JSONField(default=list, blank=True)
    # bumped at each bind, rebind and unbind: a bind job only writes while it is still the current one
    bind_generation = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        ordering = ["tenant", "name", "pk"]
        verbose_name = "channel"
        constraints = [
            # one account, one channel, across every tenant of the platform
            models.UniqueConstraint(
                fields=["channel_type", "account_id"],
                condition=Q(state__in=("binding", "bound")) & ~Q(account_id=""),
                name="channel_one_channel_per_account",
            ),
        ]
        indexes = [models.Index(fields=["tenant", "state"])]

    def __str__(self):
        return self.name

    def delete(self, *args, **kwargs):
        # the last guard behind every path (the admin's Delete, a bulk delete, the shell): a channel
        # that holds its platform account is unbound by a CSM before it can go
        if self.state in HOLDS_ACCOUNT:
            from django.core.exceptions import ValidationError

            from channels.services.lifecycle import ERR_DELETE_STATE

            raise ValidationError(ERR_DELETE_STATE.format(state=self.get_state_display()))
        return super().delete(*args, **kwargs)

    @property
    def type_info(self) -> ChannelTypeInfo:
        return CHANNEL_TYPES[self.channel_type]

    @property
    def can_send(self) -> bool:
        return self.state == ChannelState.BOUND


class ChannelHistory(models.Model):
    """One state change of a channel: who, when, from, to, why (and the binding it concerned)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="history")
    at = models.DateTimeField(default=clock.now, db_index=True)
    # None when the bind job (the system) made the change
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    from_state = models.CharField(max_length=16, choices=ChannelState.choices, blank=True, default="")
    to_state = models.CharField(max_length=16, choices=ChannelState.choices)
    why = models.TextField()
    # the platform account the change was about (the old one, for a rebind or an unbind)
    account_id = models.CharField(max_length=255, blank=True, default="")
    account_details = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "channel history"
        verbose_name_plural = "channel history"

    def __str__(self):
        return f"{self.from_state or '—'} → {self.to_state}"


class BindKind(models.TextChoices):
    BIND = "bind", "Bind"
    REBIND = "rebind", "Rebind"


class ChannelBindJob(Job):
    """One bind or rebind: asks the platform for the account behind the channel's credentials."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="bind_jobs")
    kind = models.CharField(max_length=8, choices=BindKind.choices, default=BindKind.BIND)
    generation = models.PositiveIntegerField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    LEASE = timedelta(minutes=2)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "bind job"


# --- health and test sends ---
# The platform half: a scheduled health check per Bound channel (a job row: the sweep creates it,
# a task claims it and records what the platform said), and the test messages operators send.


class HealthState(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    ATTENTION = "attention", "Needs attention"  # the platform answered, with something to look at
    REFUSED = "refused", "Refused by the platform"  # the platform answered no (token revoked, number gone)
    UNREACHABLE = "unreachable", "Platform not reachable"  # the platform could not be asked


class ChannelHealthCheck(Job):
    """One health check of a Bound channel: what the platform said, or why it could not be asked."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="health_checks")
    # the outcome, written when the check ran (blank while it is pending)
    checked_at = models.DateTimeField(null=True, blank=True)
    state = models.CharField(max_length=16, choices=HealthState.choices, blank=True, default="")
    quality_rating = models.CharField(max_length=16, blank=True, default="")  # WhatsApp: GREEN / YELLOW / RED
    messaging_tier = models.CharField(max_length=32, blank=True, default="")  # WhatsApp: TIER_1K, …
    platform_status = models.CharField(max_length=32, blank=True, default="")  # WhatsApp: CONNECTED, FLAGGED, …
    token_expires_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=64, blank=True, default="")  # the PlatformError's reason
    message = models.TextField(blank=True, default="")  # in our words
    # what to look at: [{"kind": "quality_drop" | "quality_red" | "tier_change" | "status" |
    # "token_expiry" | "account_changed", "text": "…"}]
    highlights = models.JSONField(default=list, blank=True)
    # this check made it ALERT_AFTER failed checks in a row, and raised the alert
    alerted = models.BooleanField(default=False)

    LEASE = timedelta(minutes=2)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = "health check"
        indexes = [models.Index(fields=["channel", "-checked_at"], name="channel_health_latest")]

    def __str__(self):
        return f"health check of {self.channel_id}: {self.get_state_display() or 'pending'}"

    @property
    def failed(self) -> bool:
        return self.state in (HealthState.REFUSED, HealthState.UNREACHABLE)


class ChannelTestSend(models.Model):
    """A test message an operator sent from a channel, with the platform's answer."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    channel = models.ForeignKey(Channel, on_delete=models.CASCADE, related_name="test_sends")
    at = models.DateTimeField(default=clock.now)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                           related_name="+")
    to = models.CharField("recipient", max_length=320)
    text = models.TextField()
    ok = models.BooleanField(default=False)
    message_id = models.CharField("platform message id", max_length=255, blank=True, default="")
    reason = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField("platform's answer", blank=True, default="")  # in our words
    # the sent event recorded through ingestion (event_uuid), when the platform accepted the message
    event_uuid = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = "test message"

    def __str__(self):
        return f"test message to {self.to} at {self.at:%Y-%m-%d %H:%M}"
