"""Where files go, and the policies a tenant pastes so that we may put them there."""

from __future__ import annotations

from datetime import UTC, datetime

from django.conf import settings

from exports.models import ExportConnection
from mktops.storage.buckets import tenant_condition, tenant_target
from mktops.storage.s3 import S3Target

MANIFEST_SUFFIX = ".manifest.json"
BACKFILL = "backfill"


def connection_prefix(connection: ExportConnection, *, backfill: bool = False) -> str:
    """The seed's `[<folder_path>_]<connection_name>/`: the folder joined to the name with `_`.
    Re-exports go to `[<folder_path>_]backfill_<connection_name>/` in the same layout ("backfill"
    and names starting "backfill_" are reserved, so no connection's own files land there)."""
    name = f"{BACKFILL}_{connection.name}" if backfill else connection.name
    return (f"{connection.folder_path}_{name}" if connection.folder_path else name) + "/"


def object_key(*, connection: ExportConnection, export_timestamp: int, encrypted: bool,
               backfill: bool = False) -> str:
    """`[<folder_path>_]<connection_name>/export_day=<DD-MM-YYYY>/event_exports_<epoch>.json.gz[.gpg]`."""
    return key_under(connection_prefix(connection, backfill=backfill), export_timestamp, encrypted)


def key_under(prefix: str, export_timestamp: int, encrypted: bool) -> str:
    """A file's key below a prefix (a connection's, or the one a run carries)."""
    day = datetime.fromtimestamp(export_timestamp, tz=UTC)
    name = f"event_exports_{export_timestamp}.json.gz" + (".gpg" if encrypted else "")
    return f"{prefix}export_day={day:%d-%m-%Y}/{name}"


def connection_prefixes(connection: ExportConnection) -> tuple[str, str]:
    """Every prefix the connection writes under: its files and its re-exports."""
    return connection_prefix(connection), connection_prefix(connection, backfill=True)


def manifest_key(key: str) -> str:
    return key + MANIFEST_SUFFIX


def example_key(connection: ExportConnection, now: datetime) -> str:
    return object_key(connection=connection, export_timestamp=int(now.timestamp()), encrypted=connection.encrypted)


def example_uri(connection: ExportConnection, now: datetime) -> str:
    """The full `s3://bucket/key` of a file made at `now`, as the operator would look for it."""
    return f"s3://{connection.bucket}/{example_key(connection, now)}"


def probe_key(connection: ExportConnection, now: datetime) -> str:
    suffix = ".txt.gpg" if connection.encrypted else ".txt"
    return f"{connection_prefix(connection)}mktops_connection_test_{int(now.timestamp())}{suffix}"


def connection_target(connection: ExportConnection) -> S3Target:
    """The tenant's bucket, reached with the platform's credentials (granted by the bucket policy);
    `BucketNotAllowed` (an S3Error) for the platform's or another tenant's bucket, even when a row
    was stored around the form's rules."""
    return tenant_target(bucket=connection.bucket, region=connection.region, tenant_id=connection.tenant_id)


def _objects_arn(connection: ExportConnection) -> str:
    # every prefix of the connection starts with "<folder_path>_" (the seed's layout), not "<folder_path>/"
    folder = f"{connection.folder_path}_" if connection.folder_path else ""
    return f"arn:aws:s3:::{connection.bucket}/{folder}*"


def _external_id(connection: ExportConnection) -> str:
    return connection.tenant.external_id if connection.tenant_id else "TENANT-EXTERNAL-ID"


def connection_bucket_policy(connection: ExportConnection) -> dict:
    """Every grant holds only while the platform acts for this tenant (its external id as the
    session tag; see the README's deployment section)."""
    principals = list(settings.MKTOPS_PLATFORM_PRINCIPALS)
    condition = tenant_condition(_external_id(connection))
    return {
        "Version": "2012-10-17",
        "Statement": [
            # s3:GetObject lets a run look (HEAD) before it writes, so that it never replaces an
            # object it did not create and can recognise its own file after a crash
            {"Sid": "MktopsS3ExportPutObjects", "Effect": "Allow", "Principal": {"AWS": principals},
             # s3:PutObjectAcl: every upload sends the canned ACL bucket-owner-full-control
             "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:GetObject", "s3:AbortMultipartUpload"],
             "Resource": _objects_arn(connection),
             "Condition": condition},
            {"Sid": "MktopsS3ExportBucketChecks", "Effect": "Allow", "Principal": {"AWS": principals},
             "Action": ["s3:GetBucketLocation", "s3:ListBucketMultipartUploads"],
             "Resource": f"arn:aws:s3:::{connection.bucket}", "Condition": condition},
            # Test connection adds a rule that aborts our abandoned multipart uploads (our prefixes only)
            {"Sid": "MktopsS3ExportAbandonedUploadsRule", "Effect": "Allow", "Principal": {"AWS": principals},
             "Action": ["s3:GetLifecycleConfiguration", "s3:PutLifecycleConfiguration"],
             "Resource": f"arn:aws:s3:::{connection.bucket}", "Condition": condition},
        ],
    }


def connection_kms_policy(connection: ExportConnection) -> dict | None:
    """The statement the KMS key's policy needs so that our uploads can use it (None without a key)."""
    if not connection.kms_key_arn:
        return None
    return {
        "Sid": "AllowMktopsS3ExportUploads",
        "Effect": "Allow",
        "Principal": {"AWS": list(settings.MKTOPS_PLATFORM_PRINCIPALS)},
        "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
        "Resource": "*",
        "Condition": {"StringEquals": {"kms:ViaService": f"s3.{connection.region}.amazonaws.com",
                                       **tenant_condition(_external_id(connection))["StringEquals"]}},
    }
