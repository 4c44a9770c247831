"""The one module that talks to S3 (boto3).

Every bucket we write to is reached through an `S3Target`: the platform's
archive bucket from settings, or a tenant's own bucket and region. One client
per target; never the global default silently. Errors come out as `S3Error`
with a stable `reason` code and a sentence a person can act on.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import re
from dataclasses import dataclass, field
from functools import lru_cache

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from django.conf import settings

from mktops.errors import OutsideError

# --- naming rules (shared by every feature that takes a bucket from a tenant) ---
ERR_BUCKET_LENGTH = "A bucket name is 3 to 63 characters long."
ERR_BUCKET_CHARS = "A bucket name uses only lowercase letters, digits, dots (.) and hyphens (-)."
ERR_BUCKET_EDGES = "A bucket name begins and ends with a lowercase letter or a digit."
ERR_BUCKET_DOTS = "A bucket name has no two adjacent dots."
ERR_BUCKET_IP = "A bucket name is not formatted as an IP address (such as 192.168.5.4)."
ERR_BUCKET_PREFIX = "A bucket name does not start with “xn--”, “sthree-” or “amzn-s3-demo-”."
ERR_BUCKET_SUFFIX = "A bucket name does not end with “-s3alias”, “--ol-s3”, “.mrap”, “--x-s3” or “--table-s3”."
BUCKET_CHARS_RE = re.compile(r"^[a-z0-9.-]+$")
KMS_ARN_RE = re.compile(
    r"^arn:aws[a-z-]*:kms:(?P<region>[a-z0-9-]+):\d{12}:(key/[A-Za-z0-9-]{1,128}|alias/[A-Za-z0-9/_-]{1,250})$")


def bucket_name_errors(name: str) -> list[str]:
    """S3's naming rules for general purpose buckets."""
    errors = []
    if not 3 <= len(name) <= 63:
        errors.append(ERR_BUCKET_LENGTH)
    if not BUCKET_CHARS_RE.match(name):
        errors.append(ERR_BUCKET_CHARS)
    if name and not (name[0].isalnum() and name[-1].isalnum()):
        errors.append(ERR_BUCKET_EDGES)
    if ".." in name:
        errors.append(ERR_BUCKET_DOTS)
    try:
        ipaddress.IPv4Address(name)
        errors.append(ERR_BUCKET_IP)
    except ValueError:
        pass
    if name.startswith(("xn--", "sthree-", "amzn-s3-demo-")):
        errors.append(ERR_BUCKET_PREFIX)
    if name.endswith(("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")):
        errors.append(ERR_BUCKET_SUFFIX)
    return errors


# S3 requires parts of at least 5 MiB, except the last one
PART_SIZE = 8 * 1024 * 1024


class S3Error(OutsideError):
    """What went wrong talking to S3, in words. `reason` is a stable code."""

    ACCESS_DENIED = "access_denied"
    NO_SUCH_BUCKET = "no_such_bucket"
    NO_SUCH_KEY = "no_such_key"
    WRONG_REGION = "wrong_region"
    KMS_DENIED = "kms_denied"
    UNREACHABLE = "unreachable"
    OBJECT_LOCKED = "object_locked"
    INVALID = "invalid_request"
    OTHER = "other"


@dataclass(frozen=True)
class S3Target:
    bucket: str
    region: str = ""
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)

    @classmethod
    def platform(cls, bucket: str | None = None, region: str | None = None) -> S3Target:
        """A bucket reached with the platform's own credentials and endpoint."""
        return cls(
            bucket=bucket or settings.MKTOPS_ARCHIVE_BUCKET,
            region=region or settings.AWS_S3_REGION_NAME,
            endpoint_url=settings.AWS_S3_ENDPOINT_URL,
            access_key_id=settings.AWS_ACCESS_KEY_ID,
            secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
        )


@lru_cache(maxsize=64)
def _client(region: str, endpoint_url: str, access_key_id: str, secret_access_key: str):
    config = Config(
        region_name=region or None,
        # boto3 >= 1.36 adds CRC checksums that S3-compatible servers reject
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=config,
    )


def client(target: S3Target):
    return _client(target.region, target.endpoint_url, target.access_key_id, target.secret_access_key)


def explain(exc: Exception, target: S3Target | None = None) -> S3Error:
    """Turn a boto3 error into an S3Error that says in words what went wrong."""
    bucket = f"bucket {target.bucket!r}" if target else "the bucket"
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, EndpointConnectionError):
        return S3Error(S3Error.UNREACHABLE, f"Could not reach the S3 endpoint ({exc.kwargs.get('endpoint_url')}): "
                                            "it is down or blocked by a firewall.")
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        code = str(err.get("Code", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        message = err.get("Message", "")
        if code.startswith("KMS") or "kms" in message.lower():
            return S3Error(S3Error.KMS_DENIED, f"The KMS key refused the operation on {bucket}: {message or code}. "
                                               "Allow the platform's principal in the key policy.")
        if code in ("AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch", "AllAccessDisabled"):
            return S3Error(S3Error.ACCESS_DENIED, f"Access to {bucket} was denied ({code}): check the bucket "
                                                  "policy and that the platform's principal is allowed.")
        if code in ("NoSuchBucket",):
            return S3Error(S3Error.NO_SUCH_BUCKET, f"The {bucket} does not exist.")
        if code in ("NoSuchKey", "404") or status == 404:
            return S3Error(S3Error.NO_SUCH_KEY, f"The object does not exist in {bucket}.")
        if code in ("PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                    "301") or status == 301:
            return S3Error(S3Error.WRONG_REGION, f"The {bucket} is in another region than the one configured"
                                                 f"{f' ({target.region})' if target else ''}.")
        if code in ("ObjectLocked", "InvalidRequest") and "lock" in message.lower():
            return S3Error(S3Error.OBJECT_LOCKED, f"The object is locked (write-once storage): {message}")
        if status and status >= 500:
            return S3Error(S3Error.UNREACHABLE, f"S3 answered {status} ({code}): the service is down; "
                                                "it will be retried.")
        return S3Error(S3Error.INVALID if status == 400 else S3Error.OTHER, f"S3 refused: {code} {message}".strip())
    if isinstance(exc, BotoCoreError):
        return S3Error(S3Error.UNREACHABLE, f"S3 could not be reached: {exc}")
    return S3Error(S3Error.OTHER, f"Unexpected S3 failure: {exc}")


def put_object(target: S3Target, key: str, body: bytes, *, content_type: str = "application/octet-stream",
               kms_key_id: str = "", sse: bool = False, object_lock: tuple[str, object] | None = None,
               metadata: dict | None = None) -> str:
    """Upload `body` to `key`; returns its SHA-256 (hex).

    `object_lock` is (mode, retain_until datetime) for write-once buckets; those
    uploads need a checksum header, so Content-MD5 is sent with them.
    """
    extra = _encryption_args(kms_key_id, sse)
    if object_lock:
        import base64

        extra.update(ObjectLockMode=object_lock[0], ObjectLockRetainUntilDate=object_lock[1],
                     ContentMD5=base64.b64encode(hashlib.md5(body).digest()).decode())  # noqa: S324
    if metadata:
        extra["Metadata"] = metadata
    try:
        client(target).put_object(Bucket=target.bucket, Key=key, Body=body, ContentType=content_type, **extra)
    except Exception as exc:
        raise explain(exc, target) from exc
    return hashlib.sha256(body).hexdigest()


def get_object(target: S3Target, key: str) -> bytes:
    try:
        return client(target).get_object(Bucket=target.bucket, Key=key)["Body"].read()
    except Exception as exc:
        raise explain(exc, target) from exc


def delete_object(target: S3Target, key: str, *, version_id: str | None = None) -> None:
    args = {"VersionId": version_id} if version_id else {}
    try:
        client(target).delete_object(Bucket=target.bucket, Key=key, **args)
    except Exception as exc:
        raise explain(exc, target) from exc


def head_bucket(target: S3Target) -> None:
    try:
        client(target).head_bucket(Bucket=target.bucket)
    except Exception as exc:
        raise explain(exc, target) from exc


def _encryption_args(kms_key_id: str, sse: bool) -> dict:
    if kms_key_id:
        return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
    if sse:
        return {"ServerSideEncryption": "AES256"}
    return {}


class MultipartUpload:
    """Stream bytes to one object in parts, holding at most one part in memory.

    Used as a context manager: on success the upload is completed; on any
    exception it is aborted, so no half-written object or orphaned parts stay.
    Small streams (under one part) are sent with a single put_object.
    """

    def __init__(self, target: S3Target, key: str, *, content_type: str = "application/octet-stream",
                 kms_key_id: str = "", sse: bool = False, part_size: int = PART_SIZE):
        self.target, self.key, self.content_type = target, key, content_type
        self.extra = _encryption_args(kms_key_id, sse)
        self.part_size = part_size
        self.buffer = bytearray()
        self.upload_id: str | None = None
        self.parts: list[dict] = []
        self.sha256 = hashlib.sha256()
        self.size = 0

    def __enter__(self):
        return self

    def write(self, data: bytes) -> None:
        self.sha256.update(data)
        self.size += len(data)
        self.buffer += data
        while len(self.buffer) >= self.part_size:
            self._send_part(bytes(self.buffer[: self.part_size]))
            del self.buffer[: self.part_size]

    def _send_part(self, chunk: bytes) -> None:
        s3 = client(self.target)
        try:
            if self.upload_id is None:
                self.upload_id = s3.create_multipart_upload(
                    Bucket=self.target.bucket, Key=self.key, ContentType=self.content_type, **self.extra
                )["UploadId"]
            number = len(self.parts) + 1
            etag = s3.upload_part(Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id,
                                  PartNumber=number, Body=chunk)["ETag"]
        except Exception as exc:
            raise explain(exc, self.target) from exc
        self.parts.append({"PartNumber": number, "ETag": etag})

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
            return False
        try:
            if self.upload_id is None:
                client(self.target).put_object(Bucket=self.target.bucket, Key=self.key, Body=bytes(self.buffer),
                                               ContentType=self.content_type, **self.extra)
            else:
                if self.buffer:
                    self._send_part(bytes(self.buffer))
                client(self.target).complete_multipart_upload(
                    Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id,
                    MultipartUpload={"Parts": self.parts})
        except Exception as exc:
            self.abort()
            raise explain(exc, self.target) from exc
        return False

    def abort(self) -> None:
        if self.upload_id is None:
            return
        # best effort: the abort-incomplete lifecycle rule cleans up whatever is left
        with contextlib.suppress(Exception):
            client(self.target).abort_multipart_upload(Bucket=self.target.bucket, Key=self.key,
                                                       UploadId=self.upload_id)
        self.upload_id = None

    @property
    def hexdigest(self) -> str:
        return self.sha256.hexdigest()


def abort_stale_uploads(target: S3Target, prefix: str) -> int:
    """Abort unfinished multipart uploads under `prefix` (a worker died mid-upload)."""
    s3 = client(target)
    count = 0
    try:
        listing = s3.list_multipart_uploads(Bucket=target.bucket, Prefix=prefix)
        for upload in listing.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=target.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            count += 1
    except Exception as exc:
        raise explain(exc, target) from exc
    return count


def ensure_abort_incomplete_rule(target: S3Target, prefix: str = "", days: int = 1) -> None:
    """Add a lifecycle rule that aborts multipart uploads abandoned for `days` (keeps other rules)."""
    s3 = client(target)
    rule_id = f"mktops-abort-incomplete-{prefix or 'all'}"[:255]
    try:
        try:
            rules = s3.get_bucket_lifecycle_configuration(Bucket=target.bucket)["Rules"]
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
                raise
            rules = []
        rules = [r for r in rules if r.get("ID") != rule_id]
        rules.append({"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix},
                      "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}})
        s3.put_bucket_lifecycle_configuration(Bucket=target.bucket, LifecycleConfiguration={"Rules": rules})
    except Exception as exc:
        raise explain(exc, target) from exc


# --- added for the message archive ---------------------------------------------
def head_object(target: S3Target, key: str) -> dict | None:
    """The object's metadata (ContentLength, Metadata, …), or None when it does not exist."""
    try:
        return client(target).head_object(Bucket=target.bucket, Key=key)
    except ClientError as exc:
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        if status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise explain(exc, target) from exc
    except Exception as exc:
        raise explain(exc, target) from exc


def list_versions(target: S3Target, key: str) -> list[dict]:
    """Every version of `key` (versioned buckets, e.g. with Object Lock)."""
    try:
        listing = client(target).list_object_versions(Bucket=target.bucket, Prefix=key)
    except Exception as exc:
        raise explain(exc, target) from exc
    return [v for v in listing.get("Versions", []) if v["Key"] == key]


def _rules(s3, bucket: str) -> list[dict]:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        return []


def lifecycle_expiration_days(target: S3Target, prefix: str) -> int | None:
    """Read back the expiration (days) of the enabled lifecycle rule for exactly `prefix`, if any."""
    try:
        rules = _rules(client(target), target.bucket)
    except Exception as exc:
        raise explain(exc, target) from exc
    for rule in rules:
        rule_prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix"))
        if rule_prefix == prefix and rule.get("Status") == "Enabled" and "Expiration" in rule:
            return rule["Expiration"].get("Days")
    return None


def ensure_expiration_rule(target: S3Target, prefix: str, days: int, rule_id: str) -> None:
    """Expire objects under `prefix` after `days` (replaces the rule `rule_id`, keeps the others)."""
    s3 = client(target)
    try:
        rules = [r for r in _rules(s3, target.bucket) if r.get("ID") != rule_id]
        rules.append({"ID": rule_id[:255], "Status": "Enabled", "Filter": {"Prefix": prefix},
                      "Expiration": {"Days": days}})
        s3.put_bucket_lifecycle_configuration(Bucket=target.bucket, LifecycleConfiguration={"Rules": rules})
    except Exception as exc:
        raise explain(exc, target) from exc


def object_lock_configuration(target: S3Target) -> dict | None:
    """The bucket's Object Lock configuration, or None when the bucket has none."""
    try:
        return client(target).get_object_lock_configuration(Bucket=target.bucket).get(
            "ObjectLockConfiguration")
    except ClientError as exc:
        if "ObjectLockConfiguration" in exc.response.get("Error", {}).get("Code", ""):
            return None
        raise explain(exc, target) from exc
    except Exception as exc:
        raise explain(exc, target) from exc


# --- added for S3 exports ---------------------------------------------------------
def bucket_region(target: S3Target) -> str | None:
    """The region the bucket lives in, or None when we may not ask (no s3:GetBucketLocation)."""
    try:
        location = client(target).get_bucket_location(Bucket=target.bucket).get("LocationConstraint")
    except ClientError as exc:
        error = explain(exc, target)
        if error.reason == S3Error.ACCESS_DENIED:
            return None
        raise error from exc
    except Exception as exc:
        raise explain(exc, target) from exc
    # S3 answers no constraint for us-east-1, and "EU" for the oldest eu-west-1 buckets
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)
