"""Quarantine models: one entry per tenant, channel and normalised address.

Quarantine is about addresses (an email address, an E.164 phone number, a push
token), never contacts: two contacts sharing a quarantined number are both
excluded, and a contact whose email changes is targetable again."""

import re

from django.core.exceptions import ValidationError
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


# --- the tenant's quarantine settings and the qualification tables ---

CODE_PATTERN = re.compile(r"[245x]\.(\d{1,3}|x)\.(\d{1,3}|x)")
ERR_CODE_PATTERN = 'An RFC 3463 code of three parts, each a number or x: "5.1.1", "4.x.x", "x.7.x".'
ERR_REGEX = "Not a valid regular expression: {error}."
ERR_REGEX_GROUP = "The regular expression needs a group in brackets: its first group is the value read."
ERR_KEYWORDS = "Give at least one opt-out keyword (comma-separated)."


def regex_problem(pattern: str, *, groups: int) -> str | None:
    """Why `pattern` cannot be used (it is tried on every report), or None."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        return ERR_REGEX.format(error=exc.msg)
    if compiled.groups < groups:
        return ERR_REGEX_GROUP
    return None

DEFAULT_SOFT_THRESHOLD = 5
# a count older than this (from the last significant error) is reset and the address is Valid again
RESET_AFTER_DAYS = 10


class QuarantineSettings(models.Model):
    """Per tenant; a tenant without a row uses the defaults."""

    tenant = models.OneToOneField("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_settings")
    soft_threshold = models.PositiveIntegerField(
        "soft-error threshold", default=DEFAULT_SOFT_THRESHOLD,
        help_text="Soft errors (within 10 days of each other) that quarantine an address.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "quarantine settings"
        verbose_name_plural = "quarantine settings"

    def __str__(self):
        return f"Quarantine settings of {self.tenant}"


class EmailQualificationRule(models.Model):
    """How an SMTP reply or DSN is qualified: platform-wide, shipped as data (qualification/email.json),
    extended by CSMs. Rules are tried by ascending priority; the first whose code pattern and text
    pattern both match wins."""

    key = models.SlugField(max_length=80, unique=True, help_text="Stable name; shipped rules keep theirs.")
    description = models.CharField(max_length=200)
    priority = models.PositiveIntegerField(default=500, help_text="Lower is tried first.")
    # RFC 3463 enhanced status code, each part a number or "x" ("5.1.1", "4.x.x"); blank: any code
    code_pattern = models.CharField(max_length=20, blank=True)
    # a regular expression searched (case-insensitive) in the raw text; blank: any text
    text_pattern = models.CharField(max_length=500, blank=True)
    error_type = models.CharField(max_length=8, choices=ErrorType.choices)
    error_reason = models.CharField(max_length=20, choices=ErrorReason.choices)
    counts = models.BooleanField(
        "counts against the address", default=True,
        help_text="Off for rejections that are the sender's fault (policy, reputation, blocklisted "
                  "sending IP or domain, authentication): recorded with the evidence, never counted.",
    )
    shipped = models.BooleanField(default=False, editable=False)
    enabled = models.BooleanField(default=True)

    class Meta:
        ordering = ["priority", "key"]
        verbose_name = "email qualification rule"

    def __str__(self):
        return self.description

    def clean(self):
        errors = {}
        if self.code_pattern and not CODE_PATTERN.fullmatch(self.code_pattern.lower()):
            errors["code_pattern"] = ERR_CODE_PATTERN
        if self.text_pattern and (rule := regex_problem(self.text_pattern, groups=0)):
            errors["text_pattern"] = rule
        if errors:
            raise ValidationError(errors)


class PushQualificationRule(models.Model):
    """APNs and FCM error codes and what they mean for the device token (qualification/apns.json, fcm.json)."""

    provider = models.CharField(max_length=8, choices=[("apns", "APNs"), ("fcm", "FCM")])
    # the code the provider gives (APNs reason, FCM error code, OAuth error); "*" is the fallback
    code = models.CharField(max_length=100)
    scenario = models.CharField(max_length=200)
    error_type = models.CharField(max_length=8, choices=ErrorType.choices)
    error_reason = models.CharField(max_length=20, choices=ErrorReason.choices)
    retry = models.BooleanField(default=False, help_text="Whether the sender retries this message.")
    shipped = models.BooleanField(default=False, editable=False)

    class Meta:
        ordering = ["provider", "code"]
        verbose_name = "push qualification rule"
        constraints = [models.UniqueConstraint(fields=["provider", "code"], name="quarantine_push_rule_unique")]

    def __str__(self):
        return f"{self.get_provider_display()} {self.code}"


SMPP_STATUS_REGEX = r"\bstat:\s*([A-Za-z_]+)"
SMPP_ERROR_REGEX = r"\berr:\s*([A-Za-z0-9]+)"
DEFAULT_OPTOUT_KEYWORDS = "STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT"


class SmscConfig(models.Model):
    """A tenant's SMSC: the name its reports give as `provider`, and how status and error code are
    read from its status reports (by default the stat: and err: fields of SMPP 3.4 Appendix B)."""

    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_smscs")
    name = models.CharField(
        "SMSC implementation name", max_length=100,
        help_text="As reports give it in `provider`; it names the SMSC in normalised messages.",
    )
    status_regex = models.CharField(max_length=300, default=SMPP_STATUS_REGEX,
                                    help_text="Its first group is the status.")
    error_regex = models.CharField(max_length=300, default=SMPP_ERROR_REGEX,
                                   help_text="Its first group is the error code.")
    optout_keywords = models.CharField(
        "opt-out keywords", max_length=500, default=DEFAULT_OPTOUT_KEYWORDS,
        help_text="Comma-separated; an inbound message that is one of them puts the number On denylist.",
    )

    class Meta:
        ordering = ["tenant", "name"]
        verbose_name = "SMSC"
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="quarantine_smsc_unique_name")]

    def __str__(self):
        return self.name

    def clean(self):
        errors = {name: rule for name in ("status_regex", "error_regex")
                  if (rule := regex_problem(getattr(self, name), groups=1))}
        if not [k for k in self.optout_keywords.split(",") if k.strip()]:
            errors["optout_keywords"] = ERR_KEYWORDS
        if errors:
            raise ValidationError(errors)


class SmscQualification(models.Model):
    """(SMSC, status, error code) → error type and reason. A combination seen for the first time is
    added with reason "refused" and `qualified` off: the list operators work through."""

    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_smsc_rules")
    smsc = models.CharField("SMSC implementation name", max_length=100)
    status = models.CharField(max_length=40)
    error_code = models.CharField(max_length=40, blank=True)
    error_type = models.CharField(max_length=8, choices=ErrorType.choices, default=ErrorType.HARD)
    error_reason = models.CharField(max_length=20, choices=ErrorReason.choices, default=ErrorReason.REFUSED)
    qualified = models.BooleanField(default=False, help_text="Off: seen in a report, not yet qualified.")
    message = models.CharField("normalised message", max_length=300, blank=True)
    seen_count = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(null=True, blank=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["qualified", "-last_seen_at", "id"]
        verbose_name = "SMSC status qualification"
        constraints = [models.UniqueConstraint(fields=["tenant", "smsc", "status", "error_code"],
                                               name="quarantine_smsc_rule_unique")]

    def __str__(self):
        return f"SR {self.smsc} {self.status} {self.error_code}"


# --- deliveries and blocklist (analysis) ---
from django.conf import settings  # noqa: E402 - this part of the module is the analysis's


class ExclusionReason(models.TextChoices):
    QUARANTINED = "quarantined", "Quarantined"
    DENYLISTED = "denylisted", "On denylist"
    BLOCKLISTED = "blocklisted", "Blocklisted (no longer contact)"


class BlocklistEntry(models.Model):
    """A contact opted out of a channel ("no longer contact"): every address of the contact on
    that channel is excluded, whatever its quarantine status (an allowlisted address too: a legal
    opt-out wins). About the contact, not an address: another contact sharing the address is
    still targeted."""

    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_blocklist")
    contact = models.ForeignKey("mktops.Contact", on_delete=models.CASCADE, related_name="quarantine_blocklist")
    # the contact's uid, copied: it never changes, and the analysis matches targets on it
    uid = models.CharField(max_length=255)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    note = models.CharField(max_length=500, blank=True, help_text="Why, or where the opt-out came from.")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "blocklist entry"
        verbose_name_plural = "blocklist (no longer contact)"
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "channel", "uid"], name="quarantine_blocklist_unique"),
        ]

    def __str__(self):
        return f"{self.uid}: no {self.get_channel_display()}"


class EntryDelivery(models.Model):
    """A delivery whose reports changed an entry (one row per entry and delivery, kept with the
    entry): how the per-delivery report finds the addresses quarantined after a delivery without
    reading every entry's evidence, which also keeps only the last few reports."""

    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False)
    entry = models.ForeignKey(QuarantineEntry, on_delete=models.CASCADE, related_name="deliveries",
                              db_index=False)
    delivery_id = models.CharField(max_length=100)
    reported_at = models.DateTimeField()  # the delivery's latest report for this address

    class Meta:
        constraints = [models.UniqueConstraint(fields=["entry", "delivery_id"], name="quarantine_entry_delivery")]
        indexes = [models.Index(fields=["tenant", "delivery_id"], name="quarantine_entry_delivery_id")]

    def __str__(self):
        return f"{self.delivery_id}: {self.entry_id}"


class Delivery(models.Model):
    """A delivery the sending platform prepared through the analysis API, with its counts summed
    over every analysis request made for it (a large delivery comes in several)."""

    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="quarantine_deliveries")
    delivery_id = models.CharField(max_length=100)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    analyses = models.PositiveIntegerField(default=0)
    targets = models.PositiveBigIntegerField(default=0)
    to_send = models.PositiveBigIntegerField(default=0)
    quarantined = models.PositiveBigIntegerField(default=0)
    denylisted = models.PositiveBigIntegerField(default=0)
    blocklisted = models.PositiveBigIntegerField(default=0)
    rejected = models.PositiveBigIntegerField(default=0)
    first_analysed_at = models.DateTimeField()
    last_analysed_at = models.DateTimeField()

    class Meta:
        verbose_name_plural = "deliveries"
        ordering = ["-last_analysed_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "delivery_id"], name="quarantine_delivery_unique"),
        ]
        indexes = [models.Index(fields=["tenant", "-last_analysed_at"], name="quarantine_delivery_recent")]

    def __str__(self):
        return self.delivery_id

    @property
    def excluded(self) -> int:
        return self.quarantined + self.denylisted + self.blocklisted


class DeliveryExclusion(models.Model):
    """The exclusion log: one row per target an analysis left out, with the reason."""

    # unchecked by the database: the per-row check of 180,000 rows of one analysis cost a second on
    # PostgreSQL (bench/analysis.py). Only the analysis writes rows, for the delivery it has just read
    # or created in the same transaction; deliveries are never deleted in the admin, and a tenant's
    # go through the ORM, which deletes their exclusions first.
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="exclusions",
                                 db_constraint=False)
    # unchecked by the database and not indexed alone: written in bulk, always with its delivery
    tenant = models.ForeignKey("mktops.Tenant", on_delete=models.CASCADE, related_name="+", db_index=False,
                               db_constraint=False)
    uid = models.CharField(max_length=255)
    # normalised (quarantine.addresses.normalise)
    address = models.CharField(max_length=512)
    reason = models.CharField(max_length=16, choices=ExclusionReason.choices)
    analysed_at = models.DateTimeField()

    class Meta:
        ordering = ["id"]
        indexes = [
            # the contact profile's Deliveries section
            models.Index(fields=["tenant", "uid"], name="quarantine_exclusion_uid"),
        ]

    def __str__(self):
        return f"{self.uid} {self.address}: {self.reason}"
