"""S3 exports: a tenant's connections, the runs that ship its events, monthly usage.

A connection exports by the tenant's ingest sequence (`Event.seq`): each run
is created with a fixed range [from_seq, to_seq] and a fixed object key, so a
retried or re-run window rewrites the same object and no event is exported
twice; the connection's watermark (`exported_seq`) moves only when a run's
upload succeeded.
"""

import uuid

from django.conf import settings
from django.db import models

from exports.regions import REGION_CHOICES
from mktops import clock
from mktops.jobs import Job
from mktops.models import Tenant


class Frequency(models.TextChoices):
    EVERY_15_MINUTES = "15min", "Every 15 minutes"
    DAILY = "daily", "Daily at 00:00 UTC"
    WEEKLY = "weekly", "Weekly on Monday at 00:00 UTC"


class Encryption(models.TextChoices):
    NONE = "none", "Off"
    PGP = "pgp", "PGP with the tenant's public key"


class ExportConnection(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="s3_export_connections")
    name = models.CharField("connection name", max_length=64,
                            help_text="Unique within the tenant; becomes part of the file path.")
    bucket = models.CharField("bucket name", max_length=63)
    folder_path = models.CharField(max_length=512, blank=True, default="",
                                   help_text="Optional, without leading or trailing slash: my_folder/sub_folder")
    region = models.CharField("bucket region", max_length=32, choices=REGION_CHOICES, default="us-east-1")
    all_events = models.BooleanField("export all events", default=True,
                                     help_text="Including event names that first appear later.")
    event_names = models.JSONField("selected events", default=list, blank=True)
    user_attributes = models.JSONField("user attributes", default=list, blank=True,
                                       help_text="Exported with each event, with user_id.")
    # the seed: "user attributes and device attributes"; none chosen exports all of an event's own
    device_attributes = models.JSONField("device attributes", default=list, blank=True,
                                         help_text="Exported with each event; none chosen: all the event has.")
    frequency = models.CharField(max_length=16, choices=Frequency.choices, default=Frequency.EVERY_15_MINUTES)
    encryption = models.CharField("file encryption", max_length=8, choices=Encryption.choices,
                                  default=Encryption.NONE)
    pgp_public_key = models.TextField("encryption key", blank=True, default="",
                                      help_text="The tenant's armored PGP public key.")
    pgp_fingerprint = models.CharField("key fingerprint", max_length=64, blank=True, default="", editable=False)
    pgp_algorithm = models.CharField("key algorithm", max_length=32, blank=True, default="", editable=False)
    pgp_expires_at = models.DateTimeField("key expires", null=True, blank=True, editable=False)
    kms_key_arn = models.CharField("KMS key ARN", max_length=2048, blank=True, default="",
                                   help_text="Optional SSE-KMS key for the uploads.")
    paused = models.BooleanField(default=False, editable=False)
    # why mktops paused it ("" when an operator did): shown on the page until it is resumed
    paused_reason = models.TextField("paused because", blank=True, default="", editable=False)
    # the watermark: every selected event with seq <= exported_seq is in exactly one file
    exported_seq = models.BigIntegerField("exported up to ingest sequence", default=0, editable=False)
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False)
    # the last run that finished, with or without a file
    last_success_at = models.DateTimeField(null=True, blank=True, editable=False)
    # the last time a file was actually written: a run with no selected events writes none
    last_file_at = models.DateTimeField("last file written", null=True, blank=True, editable=False)
    last_test_at = models.DateTimeField(null=True, blank=True, editable=False)
    last_test_ok = models.BooleanField(null=True, editable=False)
    last_test_message = models.TextField(blank=True, default="", editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", editable=False)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "S3 export connection"
        ordering = ["tenant", "name"]
        constraints = [models.UniqueConstraint(fields=["tenant", "name"], name="exportconnection_tenant_name")]
        indexes = [models.Index(fields=["paused", "next_run_at"], name="exportconn_due")]

    def __str__(self):
        return self.name

    @property
    def encrypted(self) -> bool:
        return self.encryption == Encryption.PGP


class RunKind(models.TextChoices):
    SCHEDULED = "scheduled", "Scheduled"
    BACKFILL = "backfill", "Re-export (backfill)"


class ExportRun(Job):
    """One file: a fixed window of events, a fixed object key, retried until uploaded."""

    connection = models.ForeignKey(ExportConnection, on_delete=models.CASCADE, related_name="runs")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=RunKind.choices, default=RunKind.SCHEDULED)
    from_seq = models.BigIntegerField("from ingest sequence")
    to_seq = models.BigIntegerField("to ingest sequence")
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    # backfill runs select by event time within [window_start, window_end)
    by_event_time = models.BooleanField(default=False)
    # the selection as it was when the run was created (None: all events)
    event_names = models.JSONField(null=True, blank=True)
    user_attributes = models.JSONField(default=list, blank=True)
    # the device attributes chosen when the run was created ([]: all of each event's)
    device_attributes = models.JSONField(default=list, blank=True)
    encrypted = models.BooleanField(default=False)
    # the whole destination, copied from the connection when the run was created (or re-pointed as a
    # whole, see exports.services.destination): upload, manifest and clean-up read only these, never
    # the connection, so bucket, prefix and key always agree
    bucket = models.CharField(max_length=63, default="")
    region = models.CharField(max_length=32, default="")
    prefix = models.CharField(max_length=1024, default="", help_text="folder and connection name, ending in /")
    kms_key_arn = models.CharField(max_length=2048, blank=True, default="")
    pgp_public_key = models.TextField(blank=True, default="")
    pgp_fingerprint = models.CharField(max_length=64, blank=True, default="")
    # written into the metadata of every object this run puts: a retry may replace its own object,
    # never one it did not create
    token = models.UUIDField(default=uuid.uuid4, editable=False)
    export_timestamp = models.BigIntegerField(help_text="epoch seconds (UTC) in the file name")
    object_key = models.CharField(max_length=1024)
    event_count = models.BigIntegerField(null=True, blank=True)
    bytes_uncompressed = models.BigIntegerField("bytes before compression", null=True, blank=True)
    bytes_compressed = models.BigIntegerField("bytes after compression", null=True, blank=True)
    object_size = models.BigIntegerField("bytes uploaded", null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    duration_seconds = models.FloatField(null=True, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+")

    LEASE = Job.LEASE

    class Meta:
        verbose_name = "S3 export run"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["connection", "kind", "status"], name="exportrun_conn_kind_status"),
            models.Index(fields=["tenant", "-id"], name="exportrun_tenant_id"),
            # unique_timestamp: the latest file name under one bucket and prefix, across tenants
            models.Index(fields=["bucket", "prefix", "-export_timestamp"], name="exportrun_dest_time"),
        ]

    def __str__(self):
        return f"{self.connection} · {self.get_kind_display()} · #{self.pk}"


class ExportUsage(models.Model):
    """Events and bytes exported per tenant per calendar month (UTC)."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    month = models.DateField(help_text="first day of the month")
    events = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField("bytes uploaded", default=0)
    files = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "S3 export usage"
        verbose_name_plural = "S3 export usage"
        ordering = ["-month", "tenant"]
        constraints = [models.UniqueConstraint(fields=["tenant", "month"], name="exportusage_tenant_month")]

    def __str__(self):
        return f"{self.tenant} {self.month:%Y-%m}"


class ExportConnectionUsage(models.Model):
    """Events and bytes exported per connection per calendar month (UTC): what the CSM bills, line by line.

    Kept when the connection is deleted (its name stays): a month already exported is still owed."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(ExportConnection, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="usage")
    connection_name = models.CharField(max_length=64)
    month = models.DateField(help_text="first day of the month")
    events = models.BigIntegerField(default=0)
    bytes = models.BigIntegerField("bytes uploaded", default=0)
    files = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "S3 export usage per connection"
        verbose_name_plural = "S3 export usage per connection"
        ordering = ["-month", "tenant", "connection_name"]
        constraints = [models.UniqueConstraint(fields=["connection", "month"], name="exportconnusage_conn_month")]

    def __str__(self):
        return f"{self.connection_name} {self.month:%Y-%m}"
