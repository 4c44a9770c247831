"""Quarantine models: one entry per tenant, channel and normalised address.

Quarantine is about addresses (an email address, an E.164 phone number, a push
token), never contacts: two contacts sharing a quarantined number are both
excluded, and a contact whose email changes is targetable again."""

from django.db import models


class Channel(models.TextChoices):
    EMAIL = "email", "Email"
    SMS = "sms", "SMS"
    PUSH = "push", "Push"


class Status(models.TextChoices):
    VALID = "valid", "Valid"
    QUARANTINED = "quarantined", "Quarantined"
    DENYLISTED = "denylisted", "On denylist"
    ALLOWLISTED = "allowlisted", "On allowlist"


class ErrorType(models.TextChoices):
    HARD = "hard", "Hard"
    SOFT = "soft", "Soft"
    IGNORED = "ignored", "Ignored"


class ErrorReason(models.TextChoices):
    UNKNOWN_USER = "unknown_user", "Unknown user"
    INVALID_DOMAIN = "invalid_domain", "Invalid domain"
    MAILBOX_FULL = "mailbox_full", "Mailbox full"
    ACCOUNT_DISABLED = "account_disabled", "Account disabled"
    REFUSED = "refused", "Refused"
    UNREACHABLE = "unreachable", "Unreachable"
    NOT_CONNECTED = "not_connected", "Not connected"
    UNDEFINED = "undefined", "Undefined"


# how many raw feedback texts an entry keeps as evidence
EVIDENCE_KEEP = 10


class QuarantineEntry(models.Model):
    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_entries")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    # normalised by quarantine.addresses.normalise: lower-cased email, E.164 number, token as given
    address = models.CharField(max_length=512)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.VALID)
    error_type = models.CharField(max_length=8, choices=ErrorType.choices, blank=True)
    error_reason = models.CharField(max_length=20, choices=ErrorReason.choices, blank=True)
    # soft errors counted against the address since the last reset
    error_count = models.PositiveIntegerField(default=0)
    first_error_at = models.DateTimeField(null=True, blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    # the last error that counted (hard or soft); the 10-day reset is measured from it
    last_significant_error_at = models.DateTimeField(null=True, blank=True)
    last_delivery_id = models.CharField(max_length=100, blank=True)
    last_provider = models.CharField(max_length=100, blank=True)
    domain = models.CharField(max_length=255, blank=True, help_text="The email address's domain.")
    # the last EVIDENCE_KEEP feedback texts, newest last:
    # {"time", "provider", "delivery_id", "raw", "type", "reason", "counted"}
    evidence = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quarantine entry"
        verbose_name_plural = "quarantine entries"
        ordering = ["-last_error_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel", "address"], name="quarantine_entry_unique_address"),
        ]
        indexes = [
            models.Index(fields=["tenant", "channel", "status"], name="quarantine_entry_status_idx"),
        ]

    def __str__(self):
        return f"{self.get_channel_display()} {self.address}"

    @property
    def excluded(self) -> bool:
        """Whether a delivery must leave this address out."""
        return self.status in (Status.QUARANTINED, Status.DENYLISTED)
