"""Message archive: where a tenant's copies go, one row per sent message, the internal store,
the daily manifests.

An `ArchivedMessage` row outlives its event (the FK is SET_NULL and the row keeps the
fields the archive search needs), so files past event retention stay findable.
"""

from django.db import models

from mktops import clock
from mktops.crypto import EncryptedTextField
from mktops.jobs import Job
from mktops.models import AuditLog, Event, Tenant


class Destination(models.TextChoices):
    PLATFORM = "platform", "The platform's S3 bucket"
    S3 = "s3", "The tenant's own S3 bucket"
    SFTP = "sftp", "The tenant's SFTP server"


class LockMode(models.TextChoices):
    NONE = "", "No object lock"
    GOVERNANCE = "GOVERNANCE", "Governance"
    COMPLIANCE = "COMPLIANCE", "Compliance"


class RetentionRule(models.TextChoices):
    """The compliance rule a tenant keeps its messages for; the period is in
    archive.services.retention.RULE_YEARS."""

    NONE = "", "None chosen"
    SEC_17A_4 = "sec_17a_4", "SEC Rule 17a-4 (6 years)"
    GLBA = "glba", "GLBA Financial Information Privacy Rule (7 years)"
    FINRA_2210 = "finra_2210", "FINRA Rule 2210 (3 years)"
    MIFID_II = "mifid_ii", "MiFID II (5 years)"


class ArchiveSettings(models.Model):
    """A tenant's archive destination. The choice is locked once a message is stored."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="archive_settings")
    destination = models.CharField(max_length=16, choices=Destination.choices, default=Destination.PLATFORM)
    # --- the tenant's own S3 bucket
    s3_bucket = models.CharField("bucket name", max_length=63, blank=True)
    s3_bucket_arn = models.CharField("bucket ARN", max_length=200, blank=True)
    s3_region = models.CharField("region", max_length=32, blank=True)
    s3_folder = models.CharField("folder name", max_length=200, blank=True)
    s3_kms_key_arn = models.CharField("SSE-KMS key ARN", max_length=255, blank=True,
                                      help_text="Optional: files are encrypted with this KMS key.")
    # --- the tenant's SFTP server
    sftp_host = models.CharField("host", max_length=255, blank=True)
    sftp_port = models.PositiveIntegerField("port", default=22)
    sftp_username = models.CharField("user", max_length=128, blank=True)
    sftp_password = EncryptedTextField("password", blank=True, default="")
    sftp_private_key = EncryptedTextField("private key", blank=True, default="",
                                          help_text="PEM/OpenSSH private key; used instead of the password.")
    sftp_host_key_fingerprint = models.CharField(
        "host key fingerprint", max_length=100, blank=True,
        help_text="SHA256:… of the server's host key; a server presenting another key is refused.")
    sftp_folder = models.CharField("remote folder", max_length=255, blank=True)
    # --- file paths (blank: the default for the channel)
    path_template_email = models.CharField("email file path", max_length=512, blank=True)
    path_template_sms = models.CharField("SMS file path", max_length=512, blank=True)
    path_template_push = models.CharField("push file path", max_length=512, blank=True)
    # --- write-once storage
    object_lock_mode = models.CharField(max_length=16, choices=LockMode.choices, blank=True, default="")
    object_lock_days = models.PositiveIntegerField(default=0)
    # the compliance rule chosen: the minimum retention, and the object lock period's default
    retention_rule = models.CharField("compliance rule", max_length=16, choices=RetentionRule.choices, blank=True,
                                      default="")
    # --- state
    locked_at = models.DateTimeField("destination locked at", null=True, blank=True)
    last_test_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True, blank=True)
    last_test_message = models.TextField(blank=True, default="")
    lifecycle_days_confirmed = models.PositiveIntegerField(null=True, blank=True)
    lifecycle_checked_at = models.DateTimeField(null=True, blank=True)
    lifecycle_message = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "archive settings"
        verbose_name_plural = "archive settings"

    def __str__(self):
        return f"Archive settings of {self.tenant}"


class Outcome(models.TextChoices):
    QUEUED = "queued", "Queued"
    STORED = "stored", "Stored"
    SKIPPED = "skipped", "Not archived"
    HELD = "held", "Not delivered, kept internally"
    PURGED = "purged", "Not delivered, internal copy purged"


class SkipReason(models.TextChoices):
    NONE = "", "—"
    ARCHIVE_OFF = "archive_off", "The message archive is not enabled for this tenant"
    CHANNEL_OFF = "channel_off", "Archiving of this channel is not enabled"
    TOO_LARGE = "too_large", "Template over 250 KB (for an email: its HTML as sent)"
    PII_TOKENISED = "pii_tokenised", "The tenant sends with PII tokenisation"
    NO_CONTENT = "no_content", "No content reported (the sent event carried no message)"


class ArchivedMessage(Job):
    # a row per sent message, made while ingestion runs: every index is paid on
    # each insert, so tenant has none of its own (the composites start with it)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+", db_index=False)
    event = models.OneToOneField(Event, null=True, blank=True, on_delete=models.SET_NULL,
                                 related_name="archived")
    # the message's unique id: {{id}} in file paths, Message-ID of the .eml
    message_id = models.CharField(max_length=32)  # unique: see Meta (no LIKE index)
    event_uuid = models.CharField(max_length=64)
    event_name = models.CharField(max_length=255)
    channel = models.CharField(max_length=8)
    platform = models.CharField(max_length=8, blank=True, default="")
    contact_uid = models.CharField(max_length=255)
    # the email address (email) or phone number (SMS) the message was sent to, as the API stored it
    recipient = models.CharField(max_length=320, blank=True, default="")
    campaign_id = models.CharField(max_length=128, blank=True, default="")
    event_time = models.DateTimeField()
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.QUEUED)
    skip_reason = models.CharField(max_length=16, choices=SkipReason.choices, blank=True, default="")
    stripped_attachments = models.JSONField(default=list, blank=True)
    destination = models.CharField(max_length=16, choices=Destination.choices, blank=True, default="")
    key = models.CharField("file path", max_length=1024, blank=True, default="")
    sha256 = models.CharField(max_length=64, blank=True, default="")
    size = models.PositiveIntegerField(null=True, blank=True)
    failure_reason = models.CharField(max_length=32, blank=True, default="")
    stored_at = models.DateTimeField(null=True, blank=True)
    held_until = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-event_time", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_uuid"], name="archived_tenant_event_uuid"),
            # a constraint, not unique=True: PostgreSQL then gets no second,
            # pattern-matching index that no query uses
            models.UniqueConstraint(fields=["message_id"], name="archived_message_id"),
        ]
        indexes = [
            # the archive search: by contact, by campaign, by date range
            models.Index(fields=["tenant", "contact_uid", "-event_time"], name="archived_uid_time"),
            models.Index(fields=["tenant", "recipient", "-event_time"], name="archived_recipient_time"),
            models.Index(fields=["tenant", "campaign_id", "-event_time"], name="archived_cid_time"),
            models.Index(fields=["tenant", "-event_time"], name="archived_tenant_time"),
            models.Index(fields=["tenant", "outcome"], name="archived_tenant_outcome"),
        ]

    def __str__(self):
        return f"{self.event_name} · {self.contact_uid} · {self.message_id}"


class InternalCopy(models.Model):
    """A message that could not be delivered, encrypted, kept until `held_until` then purged."""

    message = models.OneToOneField(ArchivedMessage, on_delete=models.CASCADE, primary_key=True,
                                   related_name="internal_copy")
    sealed = models.BinaryField()
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self):
        return f"internal copy of {self.message_id}"


class Manifest(models.Model):
    """A tenant's daily list of stored files and their SHA-256, chained by hash."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    day = models.DateField()
    key = models.CharField(max_length=1024)
    sha256 = models.CharField(max_length=64)
    previous_sha256 = models.CharField(max_length=64, blank=True, default="")
    file_count = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=clock.now)
    verified_at = models.DateTimeField(null=True, blank=True)
    verify_result = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-day"]
        constraints = [models.UniqueConstraint(fields=["tenant", "day"], name="manifest_tenant_day")]

    def __str__(self):
        return f"manifest {self.tenant} {self.day}"


class ArchiveAccessLog(AuditLog):
    """The audit log's archive rows: who viewed or downloaded which message, when."""

    class Meta:
        proxy = True
        verbose_name = "archive access log entry"
        verbose_name_plural = "archive access log"
