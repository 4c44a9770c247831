"""The rules a connection's fields must follow; each error names the field and the rule."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from exports.models import Encryption, ExportConnection, Frequency
from exports.regions import REGION_CODES
from mktops import clock, pgp
from mktops.models import EventName, UserAttributeName
from mktops.storage.buckets import bucket_claim_errors
from mktops.storage.s3 import KMS_ARN_RE, bucket_name_errors

ERR_NAME_RULE = "Give the connection a name of 1-64 characters (it becomes part of the file path)."
ERR_NAME_SLASH = ("A connection name cannot contain “/”: it is one folder of the file path "
                  "(put folders in the folder path).")
ERR_NAME_CONTROL = "Use printable characters only: S3 keys cannot carry control characters such as tabs or line breaks."
ERR_NAME_DOTS = "“.” and “..” are not names S3 paths can take; choose another name."
ERR_NAME_RESERVED = ("“backfill” and names starting with “backfill_” are reserved for re-exports "
                     "(they go to [<folder_path>_]backfill_<connection_name>/); choose another name.")
ERR_NAME_TAKEN = "This tenant already has a connection with this name."
ERR_FOLDER_SLASHES = "Leave out the leading and trailing slash: my_folder/sub_folder."
ERR_FOLDER_EMPTY_PART = "The folder path has an empty part (two slashes in a row)."
ERR_FOLDER_CHARS = ("Folder names cannot contain control characters (tabs, line breaks), and no folder can be "
                    "“.” or “..”.")
ERR_KEY_BYTES = ("S3 keys are at most 1,024 bytes (UTF-8): the folder path and the connection name together can "
                 "take {limit} bytes; these take {used}.")
ERR_FOLDER_LENGTH = "The folder path is at most 512 characters."
ERR_REGION = "Choose one of the AWS regions in the list."
ERR_FREQUENCY = "Choose every 15 minutes, daily or weekly."
ERR_EVENTS_NONE = "Choose at least one event, or export all events."
ERR_EVENTS_UNKNOWN = "Not in this tenant's event catalogue: {names}."
ERR_ATTRIBUTES_UNKNOWN = "Not among the user attributes seen for this tenant: {names}."
ERR_DEVICE_ATTRIBUTE = "Device attribute names are 1-255 characters without control characters: {names}."
ERR_KEY_REQUIRED = "PGP encryption is on: paste the tenant's armored PGP public key."
ERR_KMS_ARN = ("A KMS key ARN looks like arn:aws:kms:<region>:<12-digit account>:key/<key id> "
               "(or …:alias/<alias name>).")
ERR_KMS_REGION = "The KMS key is in {key_region}; it must be in the bucket's region ({region})."

# spaces and any UTF-8 are fine in S3 keys (the seed's own example is "My S3 Export"); control
# characters are not (XML 1.0 cannot carry most of them in S3's listings)
CONTROL_RE = re.compile(r"[\x00-\x1f\x7f-\x9f]")
# the longest tail a key adds to folder and name: "backfill_" + "/export_day=DD-MM-YYYY/event_exports_"
# + epoch + ".json.gz.gpg.manifest.json"
KEY_TAIL_BYTES = len("backfill_/export_day=31-12-2099/event_exports_99999999999.json.gz.gpg.manifest.json")
PATH_BYTES = 1024 - KEY_TAIL_BYTES


def bucket_errors(connection: ExportConnection) -> list[str]:
    """S3's naming rules, then: neither the platform's bucket nor one another tenant configured."""
    return bucket_name_errors(connection.bucket) or bucket_claim_errors(bucket=connection.bucket,
                                                                         tenant_id=connection.tenant_id)


def export_bucket_claims(bucket: str) -> list[int]:
    """The tenants with an export connection to `bucket` (registered with mktops.storage.buckets)."""
    return list(ExportConnection.objects.filter(bucket__iexact=bucket).values_list("tenant_id", flat=True))


def folder_path_errors(path: str) -> list[str]:
    if not path:
        return []
    if path.startswith("/") or path.endswith("/"):
        return [ERR_FOLDER_SLASHES]
    if len(path) > 512:
        return [ERR_FOLDER_LENGTH]
    parts = path.split("/")
    if any(p == "" for p in parts):
        return [ERR_FOLDER_EMPTY_PART]
    if any(p in (".", "..") or CONTROL_RE.search(p) for p in parts):
        return [ERR_FOLDER_CHARS]
    return []


def key_length_errors(connection: ExportConnection) -> list[str]:
    used = len(f"{connection.folder_path}_{connection.name}".encode())
    return [ERR_KEY_BYTES.format(limit=PATH_BYTES, used=used)] if used > PATH_BYTES else []


def name_errors(connection: ExportConnection) -> list[str]:
    name = connection.name or ""
    if not 1 <= len(name) <= 64:
        return [ERR_NAME_RULE]
    if "/" in name:
        return [ERR_NAME_SLASH]
    if CONTROL_RE.search(name):
        return [ERR_NAME_CONTROL]
    if name in (".", ".."):
        return [ERR_NAME_DOTS]
    if name.lower() == "backfill" or name.lower().startswith("backfill_"):
        return [ERR_NAME_RESERVED]
    taken = ExportConnection.objects.filter(tenant_id=connection.tenant_id, name=name).exclude(pk=connection.pk)
    return [ERR_NAME_TAKEN] if connection.tenant_id and taken.exists() else []


def _unknown(chosen: list, known) -> list[str]:
    known = set(known)
    return sorted(n for n in chosen if n not in known)


def event_errors(connection: ExportConnection) -> list[str]:
    if connection.all_events:
        return []
    names = connection.event_names or []
    if not names:
        return [ERR_EVENTS_NONE]
    unknown = _unknown(names, EventName.objects.filter(tenant_id=connection.tenant_id, name__in=names)
                       .values_list("name", flat=True))
    return [ERR_EVENTS_UNKNOWN.format(names=", ".join(unknown))] if unknown else []


def attribute_errors(connection: ExportConnection) -> list[str]:
    names = connection.user_attributes or []
    unknown = _unknown(names, UserAttributeName.objects.filter(tenant_id=connection.tenant_id, name__in=names)
                       .values_list("name", flat=True))
    return [ERR_ATTRIBUTES_UNKNOWN.format(names=", ".join(unknown))] if unknown else []


def device_attribute_errors(connection: ExportConnection) -> list[str]:
    """Any name an event may carry (device attributes have no catalogue: the picker suggests those of
    the tenant's latest events); only what cannot be a key of a record is refused."""
    bad = [str(n) for n in connection.device_attributes or []
           if not isinstance(n, str) or not 1 <= len(n) <= 255 or CONTROL_RE.search(n)]
    return [ERR_DEVICE_ATTRIBUTE.format(names=", ".join(repr(n) for n in bad))] if bad else []


DEVICE_SAMPLE = 1000  # events read to suggest device attribute names


def device_attribute_suggestions(*, tenant_id: int, term: str = "", limit: int = 20) -> list[str]:
    """The device attribute names of the tenant's latest events containing `term`, sorted: a sample
    (device attributes have no catalogue of their own), read through the (tenant, -id) index."""
    from mktops.models import Event

    names: set[str] = set()
    for device in (Event.objects.filter(tenant_id=tenant_id).order_by("-id")
                   .values_list("device_attributes", flat=True)[:DEVICE_SAMPLE]):
        names.update(k for k in (device or {}) if term.lower() in k.lower())
    return sorted(names)[:limit]


def kms_errors(connection: ExportConnection) -> list[str]:
    arn = connection.kms_key_arn or ""
    if not arn:
        return []
    match = KMS_ARN_RE.match(arn)
    if not match:
        return [ERR_KMS_ARN]
    if match["region"] != connection.region:
        return [ERR_KMS_REGION.format(key_region=match["region"], region=connection.region)]
    return []


def _key_errors(connection: ExportConnection) -> list[str]:
    """Validate the PGP key and record its fingerprint, algorithm and expiry on the connection."""
    if connection.encryption != Encryption.PGP:
        connection.pgp_fingerprint, connection.pgp_algorithm, connection.pgp_expires_at = "", "", None
        return []
    if not (connection.pgp_public_key or "").strip():
        return [ERR_KEY_REQUIRED]
    try:
        info = pgp.key_inspect(connection.pgp_public_key, now=clock.now())
    except pgp.PgpError as exc:
        return [str(exc)]
    connection.pgp_public_key = connection.pgp_public_key.strip() + "\n"
    connection.pgp_fingerprint, connection.pgp_algorithm = info.fingerprint, info.algorithm
    connection.pgp_expires_at = info.expires_at
    return []


def connection_validate(*, connection: ExportConnection) -> None:
    """Raise ValidationError({field: [sentences]}) for every rule the connection breaks."""
    connection.name = (connection.name or "").strip()
    connection.bucket = (connection.bucket or "").strip()
    connection.folder_path = (connection.folder_path or "").strip()
    connection.kms_key_arn = (connection.kms_key_arn or "").strip()
    errors = {
        "name": name_errors(connection),
        "bucket": bucket_errors(connection),
        "folder_path": folder_path_errors(connection.folder_path) or key_length_errors(connection),
        "region": [] if connection.region in REGION_CODES else [ERR_REGION],
        "frequency": [] if connection.frequency in Frequency.values else [ERR_FREQUENCY],
        "event_names": event_errors(connection),
        "user_attributes": attribute_errors(connection),
        "device_attributes": device_attribute_errors(connection),
        "kms_key_arn": kms_errors(connection),
        "pgp_public_key": _key_errors(connection),
    }
    errors = {field: messages for field, messages in errors.items() if messages}
    if errors:
        raise ValidationError(errors)
