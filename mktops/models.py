"""The core: tenants and their entitlements, roles, API keys, contacts, events."""

import hashlib
import uuid

from django.conf import settings
from django.core.validators import MinValueValidator, RegexValidator
from django.db import models, transaction
from django.utils import timezone

SLUG_RULE = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)
DB_NAME_RULE = RegexValidator(
    r"^[A-Za-z0-9_-]{1,64}$",
    "Use 1-64 letters, digits, underscores and hyphens (it becomes part of file paths).",
)


def new_external_id() -> str:
    """A tenant's external id: random, so no tenant can guess another's (it is not a secret)."""
    return f"mkt-{uuid.uuid4().hex}"


class Tenant(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=50, unique=True, validators=[SLUG_RULE])
    db_name = models.CharField(
        "workspace name", max_length=64, unique=True, validators=[DB_NAME_RULE],
        help_text="Used in archive and export file paths.",
    )
    app_name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # the session tag the platform carries when it acts for this tenant; the bucket policies the
    # console shows grant access only under it, so no tenant can aim the platform at another's bucket
    external_id = models.CharField(max_length=40, unique=True, default=new_external_id, editable=False)

    # --- entitlements: only CSMs change these (see services.tenant_set_entitlements)
    archive_enabled = models.BooleanField("message archive", default=False)
    archive_email = models.BooleanField("archive Email", default=True)
    archive_sms = models.BooleanField("archive SMS", default=True)
    archive_push = models.BooleanField("archive Push", default=True)
    s3_export_enabled = models.BooleanField("S3 export", default=False)
    webhook_zone1_enabled = models.BooleanField("webhook zone 1", default=False)
    webhook_zone1_purchase_start = models.DateField(null=True, blank=True)
    webhook_zone1_purchase_end = models.DateField(null=True, blank=True)
    webhook_zone1_addon_end = models.DateField("webhook zone 1 add-on until", null=True, blank=True)
    webhook_zone2_enabled = models.BooleanField("webhook zone 2", default=False)
    webhook_zone2_purchase_start = models.DateField(null=True, blank=True)
    webhook_zone2_purchase_end = models.DateField(null=True, blank=True)
    webhook_zone2_addon_end = models.DateField("webhook zone 2 add-on until", null=True, blank=True)
    channel_quota = models.PositiveIntegerField(default=100)
    # how many webhook endpoints the tenant may have; a CSM raises it
    webhook_endpoint_quota = models.PositiveIntegerField("webhook endpoints", default=3)
    # at least a day: 0 would let the retention job delete events as they arrive
    event_retention_days = models.PositiveIntegerField(default=30, validators=[MinValueValidator(1)])
    archive_file_retention_days = models.PositiveIntegerField(default=365, validators=[MinValueValidator(1)])
    pii_tokenised_sending = models.BooleanField("PII-tokenised sending", default=False)
    # a service provider manages channels for its own customers: its menu says "Customer management"
    service_provider = models.BooleanField(
        "service provider", default=False,
        help_text="The tenant manages channels for its customers; its menu shows Customer management.",
    )

    ENTITLEMENT_FIELDS = (
        "archive_enabled", "archive_email", "archive_sms", "archive_push",
        "s3_export_enabled",
        "webhook_zone1_enabled", "webhook_zone1_purchase_start",
        "webhook_zone1_purchase_end", "webhook_zone1_addon_end",
        "webhook_zone2_enabled", "webhook_zone2_purchase_start",
        "webhook_zone2_purchase_end", "webhook_zone2_addon_end",
        "channel_quota", "webhook_endpoint_quota", "event_retention_days", "archive_file_retention_days",
        "pii_tokenised_sending", "service_provider",
    )

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def archives_channel(self, channel: str) -> bool:
        """Whether the CSM enabled archiving of `channel` (email, sms, push)."""
        return self.archive_enabled and getattr(self, f"archive_{channel}", False)

    def delete(self, *args, **kwargs):
        """Deletes the tenant and everything it owns, once no ingest batch of it is
        being written.

        Events refer to their tenant and contact unchecked by the database (see
        Event), so nothing else would stop a batch that commits while the
        deletion runs from leaving events behind. The tenant's ingest counter
        row is each batch's lock: held here first, a running batch is waited
        for and a later one finds the tenant gone."""
        with transaction.atomic():
            list(IngestCounter.objects.select_for_update().filter(tenant=self).values_list("pk"))
            return super().delete(*args, **kwargs)


class EntitlementChange(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="entitlement_changes")
    changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    changed_at = models.DateTimeField(default=timezone.now)
    field = models.CharField(max_length=64)
    old_value = models.CharField(max_length=200, blank=True)
    new_value = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-changed_at", "-id"]

    def __str__(self):
        return f"{self.field}: {self.old_value} → {self.new_value}"


class Role(models.TextChoices):
    OPERATOR = "operator", "Operator"
    SUPPORT = "support", "Customer support"
    CSM = "csm", "CSM"


class Membership(models.Model):
    """A user's role. Operators and support belong to tenants; a CSM row has no tenant."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, null=True, blank=True, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="membership_user_tenant"),
            models.CheckConstraint(
                condition=(models.Q(role="csm", tenant__isnull=True)
                           | (~models.Q(role="csm") & models.Q(tenant__isnull=False))),
                name="membership_csm_has_no_tenant",
            ),
        ]

    def __str__(self):
        return f"{self.user} — {self.get_role_display()}{f' of {self.tenant}' if self.tenant else ''}"


class ApiKey(models.Model):
    PREFIX = "mk_"

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    # only the SHA-256 of the key is kept: keys are 32 random bytes, so a fast
    # hash is enough and keeps authentication a single indexed lookup.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_hint = models.CharField("key ends with", max_length=8, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "API key"
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} (…{self.key_hint})"

    @staticmethod
    def hash(raw: str) -> str:
        return hashlib.sha256(raw.encode()).hexdigest()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None


class AuditLog(models.Model):
    """Who did what: secret reveals, archive views and downloads, repairs."""

    tenant = models.ForeignKey(Tenant, null=True, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=64)
    object_type = models.CharField(max_length=64, blank=True)
    object_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["tenant", "action", "-at"])]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.user} {self.action} {self.object_type} {self.object_id}"


class Contact(models.Model):
    # no index of its own: the unique (tenant, uid) serves tenant lookups, and a
    # lone tenant index lures the planner into scanning a tenant's contacts
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="contacts", db_index=False)
    uid = models.CharField(max_length=255)
    email = models.CharField(max_length=320, blank=True, default="")
    mobile_number = models.CharField(max_length=32, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["tenant", "uid"], name="contact_tenant_uid")]
        indexes = [
            models.Index(fields=["tenant", "email"]),
            models.Index(fields=["tenant", "mobile_number"]),
        ]

    def __str__(self):
        return self.uid


class Platform(models.TextChoices):
    ANDROID = "ANDROID", "Android"
    IOS = "IOS", "iOS"
    WEB = "WEB", "Web"


class Device(models.Model):
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="devices")
    platform = models.CharField(max_length=8, choices=Platform.choices)
    push_token = models.CharField(max_length=512)
    created_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["contact", "push_token"], name="device_contact_token"),
        ]
        indexes = [models.Index(fields=["push_token"])]

    def __str__(self):
        return f"{self.get_platform_display()} …{self.push_token[-8:]}"


class EventType(models.TextChoices):
    USER_ACTION_EVENT = "USER_ACTION_EVENT", "User action"
    CAMPAIGN_EVENT = "CAMPAIGN_EVENT", "Campaign"


class SentEvent:
    """The standard campaign events this console knows by name."""

    EMAIL = "Email Sent"
    SMS = "SMS Sent"
    PUSH_ANDROID = "Notification Received Android"
    PUSH_IOS = "Notification Sent iOS"
    PUSH_WEB = "Notification Received Web"

    CODES = {
        EMAIL: "MOE_EMAIL_SENT",
        SMS: "MOE_SMS_SENT",
        PUSH_ANDROID: "NOTIFICATION_RECEIVED_MOE",
        PUSH_IOS: "NOTIFICATION_SENT_IOS_MOE",
        PUSH_WEB: "NOTIFICATION_RECEIVED_WEB_MOE",
    }
    # channel and, for push, platform of each sent event
    CHANNELS = {
        EMAIL: ("email", None),
        SMS: ("sms", None),
        PUSH_ANDROID: ("push", "android"),
        PUSH_IOS: ("push", "ios"),
        PUSH_WEB: ("push", "web"),
    }

    @classmethod
    def channel_of(cls, event_name: str) -> tuple[str, str | None] | None:
        return cls.CHANNELS.get(event_name)


class IngestCounter(models.Model):
    """Hands out each tenant's ingest sequence.

    The row is locked for the whole ingest transaction, so within a tenant the
    sequence order is the commit order: an export that has read up to N can
    never later find a committed event below N.
    """

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.tenant_id}: {self.last_seq}"


class Event(models.Model):
    # Every index and constraint is paid for on each of millions of inserts:
    # tenant and contact get no index of their own (the composite indexes
    # below start with them), and neither reference is checked by the
    # database. On PostgreSQL the deferred check of the contact reference
    # cost ~10 ms per batch of 1,000 at commit, while the tenant's ingest lock
    # is held (the tenant's, a tenth of a batch, before it). Only ingestion
    # writes events, with the contacts it has just read or created under that
    # lock; contacts go only with their tenant, through the ORM (which
    # deletes their events first), and Tenant.delete takes the same lock.
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="events", db_index=False,
                               db_constraint=False)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="events", db_index=False,
                                db_constraint=False)
    seq = models.BigIntegerField("ingest sequence", editable=False)
    uid = models.CharField(max_length=255)
    event_type = models.CharField(max_length=24, choices=EventType.choices, default=EventType.USER_ACTION_EVENT)
    event_code = models.CharField(max_length=128)
    event_name = models.CharField(max_length=255)
    event_uuid = models.CharField(max_length=64)
    event_time = models.DateTimeField()
    event_source = models.CharField(max_length=64, default="API")
    event_attributes = models.JSONField(default=dict, blank=True)
    user_attributes = models.JSONField(default=dict, blank=True)
    device_attributes = models.JSONField(default=dict, blank=True)
    email_id = models.CharField(max_length=320, blank=True, default="")
    mobile_number = models.CharField(max_length=32, blank=True, default="")
    push_id = models.CharField(max_length=512, blank=True, default="")
    campaign_id = models.CharField(max_length=128, blank=True, default="")
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "event_uuid"], name="event_tenant_uuid"),
            models.UniqueConstraint(fields=["tenant", "seq"], name="event_tenant_seq"),
        ]
        indexes = [
            # the contact timeline: newest first; a filter by name is checked
            # in the index itself. One index, not one per query: each index on
            # contact is written at a random place for most rows of a batch,
            # and a second one cost SQLite a third of its ingest speed.
            models.Index(fields=["contact", "-event_time", "event_name"], name="event_contact_time_name"),
            # retention and date-range lookups
            models.Index(fields=["tenant", "event_time"], name="event_tenant_time"),
            models.Index(fields=["tenant", "campaign_id"], name="event_tenant_campaign"),
            # the changelist, newest first within the user's tenants
            models.Index(fields=["tenant", "-id"], name="event_tenant_id"),
        ]

    def __str__(self):
        return f"{self.event_name} · {self.uid} · {self.event_time:%Y-%m-%d %H:%M:%S}"


class SentMessage(models.Model):
    """The content of the message that a sent event reports, kept with its event.

    Kept apart from Event so that the events table stays narrow; the archive
    consumes it.
    """

    event = models.OneToOneField(Event, on_delete=models.CASCADE, primary_key=True, related_name="message")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    content = models.JSONField()
    size = models.PositiveIntegerField(help_text="bytes of the content as received")

    def __str__(self):
        return f"message of event {self.event_id}"


class EventName(models.Model):
    """The per-tenant catalogue of event names seen."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="event_names")
    name = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="eventname_tenant_name")]

    def __str__(self):
        return self.name


class UserAttributeName(models.Model):
    """The per-tenant catalogue of user attribute names seen."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="attribute_names")
    name = models.CharField(max_length=255)
    first_seen_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="attrname_tenant_name")]

    def __str__(self):
        return self.name


class WorkerHeartbeat(models.Model):
    """A background worker process that is alive says so here every few seconds (mktops.jobs).

    The rows it claims name it (`Job.lease_owner`); once its heartbeat is stale the sweeper treats
    them as abandoned without waiting for their leases. A table, not django-q2's cluster stats:
    those live in the broker (in Django's cache with the database broker, per process unless a
    shared cache is configured), while this works the same with either broker and any number of
    machines."""

    owner = models.CharField(max_length=255, primary_key=True, help_text="hostname:pid")
    seen_at = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.owner
