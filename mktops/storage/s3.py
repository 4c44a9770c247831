"""The one module that talks to S3 (boto3).

Every bucket we write to is reached through an `S3Target`: the platform's
archive bucket from settings, or a tenant's own bucket and region. One client
per target; never the global default silently. Errors come out as `S3Error`
with a stable `reason` code and a sentence a person can act on.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import ipaddress
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache

import boto3
import botocore.session
from botocore.config import Config
from botocore.credentials import DeferredRefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError
from django.conf import settings
from storages.backends.s3 import S3Storage

from mktops.errors import OutsideError

log = logging.getLogger(__name__)

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
    NO_OBJECT_LOCK = "no_object_lock"  # the bucket was not created with Object Lock
    OBJECT_EXISTS = "object_exists"  # a conditional write (If-None-Match / If-Match) found another object
    INVALID = "invalid_request"
    OTHER = "other"


@dataclass(frozen=True)
class S3Target:
    bucket: str
    region: str = ""
    endpoint_url: str = ""
    access_key_id: str = ""
    secret_access_key: str = field(default="", repr=False)
    # a tenant's external id: with MKTOPS_PLATFORM_ROLE_ARN set, the client assumes that role with
    # it as the session tag the tenant's bucket policy requires (mktops.storage.buckets)
    session_tag: str = ""

    @classmethod
    def platform(cls, bucket: str | None = None, region: str | None = None, session_tag: str = "") -> S3Target:
        """A bucket reached with the platform's own credentials and endpoint."""
        return cls(
            bucket=bucket or settings.MKTOPS_ARCHIVE_BUCKET,
            region=region or settings.AWS_S3_REGION_NAME,
            endpoint_url=settings.AWS_S3_ENDPOINT_URL,
            access_key_id=settings.AWS_ACCESS_KEY_ID,
            secret_access_key=settings.AWS_SECRET_ACCESS_KEY,
            session_tag=session_tag,
        )


def _config(region: str, endpoint_url: str) -> Config:
    return Config(
        region_name=region or None,
        # boto3 >= 1.36 adds CRC checksums that S3-compatible servers reject
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if endpoint_url else {},
    )


SESSION_TAG = "mktops-tenant"  # the session tag key the bucket policies shown condition on


def _tagged_session(role_arn: str, sts_endpoint: str, session_tag: str, access_key_id: str,
                    secret_access_key: str) -> boto3.session.Session:
    """A session acting as the platform's role for one tenant: its credentials come from
    sts:AssumeRole with the tenant's external id as a session tag, fetched at the first request
    (so a refusal comes out as an S3Error like any other) and renewed by botocore before they expire."""
    sts = boto3.session.Session().client("sts", endpoint_url=sts_endpoint or None,
                                         region_name=settings.AWS_S3_REGION_NAME or "us-east-1",
                                         aws_access_key_id=access_key_id or None,
                                         aws_secret_access_key=secret_access_key or None)

    def fetch() -> dict:
        creds = sts.assume_role(RoleArn=role_arn, RoleSessionName=f"mktops-{session_tag}"[:64],
                                Tags=[{"Key": SESSION_TAG, "Value": session_tag}])["Credentials"]
        return {"access_key": creds["AccessKeyId"], "secret_key": creds["SecretAccessKey"],
                "token": creds["SessionToken"], "expiry_time": creds["Expiration"].isoformat()}

    core = botocore.session.get_session()
    core._credentials = DeferredRefreshableCredentials(refresh_using=fetch, method="sts-assume-role")
    return boto3.session.Session(botocore_session=core)


@lru_cache(maxsize=64)
def _client(region: str, endpoint_url: str, access_key_id: str, secret_access_key: str,
            assume: tuple[str, str, str] | None = None):
    if assume:  # (role ARN, STS endpoint, session tag)
        session = _tagged_session(*assume, access_key_id, secret_access_key)
        access_key_id = secret_access_key = ""
    else:
        session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url or None,
        aws_access_key_id=access_key_id or None,
        aws_secret_access_key=secret_access_key or None,
        config=_config(region, endpoint_url),
    )


def client(target: S3Target):
    role = settings.MKTOPS_PLATFORM_ROLE_ARN
    assume = (role, settings.AWS_STS_ENDPOINT_URL, target.session_tag) if role and target.session_tag else None
    return _client(target.region, target.endpoint_url, target.access_key_id, target.secret_access_key, assume)


# A code S3 sent is shown only when it looks like one (a far side may answer anything).
_CODE_RE = re.compile(r"^[A-Za-z0-9.]{1,64}$")
_ACCESS_CODES = frozenset({"AccessDenied", "403", "InvalidAccessKeyId", "SignatureDoesNotMatch",
                           "AllAccessDisabled", "AccountProblem"})
_REGION_CODES = frozenset({"PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
                           "301"})


def _client_error_reason(exc: ClientError) -> str:
    """The reason code of S3's answer. Its `Message` may steer the choice (KMS, lock), never the words."""
    err = exc.response.get("Error", {})
    code, far_text = str(err.get("Code", "")), str(err.get("Message", "")).lower()
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code.startswith("KMS") or "kms" in far_text:
        return S3Error.KMS_DENIED
    if code in _ACCESS_CODES:
        return S3Error.ACCESS_DENIED
    if code == "NoSuchBucket":
        return S3Error.NO_SUCH_BUCKET
    # before the 404 test: a bucket without Object Lock answers its configuration with 404
    if code == "ObjectLockConfigurationNotFoundError" or (code == "InvalidRequest" and "missing" in far_text
                                                          and "lock" in far_text):
        return S3Error.NO_OBJECT_LOCK
    if code in ("NoSuchKey", "404", "NotFound") or status == 404:
        return S3Error.NO_SUCH_KEY
    if code in _REGION_CODES or status == 301:
        return S3Error.WRONG_REGION
    if code == "ObjectLocked" or (code == "InvalidRequest" and "lock" in far_text):
        return S3Error.OBJECT_LOCKED
    if code in ("PreconditionFailed", "ConditionalRequestConflict") or status == 412:
        return S3Error.OBJECT_EXISTS
    if status and status >= 500:
        return S3Error.UNREACHABLE
    return S3Error.INVALID if status == 400 else S3Error.OTHER


def _sentence(reason: str, target: S3Target | None, code: str = "") -> str:
    """Our words for each reason: what failed and what the operator can do."""
    bucket = f"bucket {target.bucket!r}" if target else "the bucket"
    region = f" ({target.region})" if target and target.region else ""
    shown = f" (S3's code: {code})" if _CODE_RE.match(code or "") else ""
    return {
        S3Error.KMS_DENIED: f"The KMS key refused the operation on {bucket}. "
                            "Allow the platform's principal in the key policy.",
        S3Error.ACCESS_DENIED: f"Access to {bucket} was denied: check the bucket policy and that the platform's "
                               "principal is allowed.",
        S3Error.NO_SUCH_BUCKET: f"The {bucket} does not exist.",
        S3Error.NO_SUCH_KEY: f"The object does not exist in {bucket}.",
        S3Error.WRONG_REGION: f"The {bucket} is in another region than the one configured{region}.",
        S3Error.OBJECT_LOCKED: f"The object in {bucket} is locked (write-once storage): it cannot be replaced or "
                               "removed until its retention ends.",
        S3Error.NO_OBJECT_LOCK: f"The {bucket} has no Object Lock: a write-once file cannot be stored in it. "
                                "Object Lock is enabled when a bucket is created: use a bucket created with "
                                "Object Lock, or choose no object lock.",
        S3Error.OBJECT_EXISTS: f"An object already exists at this key in {bucket}; nothing was overwritten.",
        S3Error.UNREACHABLE: f"Could not reach the S3 endpoint of {bucket}: it is down or blocked by a firewall; "
                             "it will be retried.",
        S3Error.INVALID: f"S3 refused the request to {bucket}{shown}: check the bucket's settings.",
    }.get(reason, f"S3 failed on {bucket}{shown}: check the bucket's settings, or ask platform support.")


def explain(exc: Exception, target: S3Target | None = None) -> S3Error:
    """Turn a boto3 error into an S3Error that says in our words what went wrong.

    Nothing the far side sent is echoed (its `Message` is not ours to show a tenant); at
    most a code that looks like one is kept."""
    if isinstance(exc, S3Error):
        return exc
    if isinstance(exc, ClientError):
        reason = _client_error_reason(exc)
        return S3Error(reason, _sentence(reason, target, str(exc.response.get("Error", {}).get("Code", ""))))
    if isinstance(exc, BotoCoreError):  # EndpointConnectionError, timeouts, a broken answer
        return S3Error(S3Error.UNREACHABLE, _sentence(S3Error.UNREACHABLE, target))
    log.warning("unexpected S3 failure on %s", target.bucket if target else "?", exc_info=exc)
    return S3Error(S3Error.OTHER, _sentence(S3Error.OTHER, target))


@contextlib.contextmanager
def _explained(target: S3Target) -> Iterator[None]:
    """Every failure inside comes out as an S3Error in words (the one place that wraps them)."""
    try:
        yield
    except Exception as exc:
        raise explain(exc, target) from exc


def _not_found(exc: ClientError) -> bool:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status == 404 or exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound")


# the canned ACL of every object written into a tenant's bucket: a bucket whose objects belong to their
# writer (Object Ownership "ObjectWriter") still gives the tenant full control of its files
BUCKET_OWNER_FULL_CONTROL = "bucket-owner-full-control"


def put_object(target: S3Target, key: str, body: bytes, *, content_type: str = "application/octet-stream",
               kms_key_id: str = "", sse: bool = False, object_lock: tuple[str, object] | None = None,
               metadata: dict | None = None, if_none_match: bool = False, if_match: str = "", acl: str = "") -> str:
    """Upload `body` to `key`; returns its SHA-256 (hex). `object_lock` is (mode, retain_until).
    `if_none_match` writes only where no object is, `if_match` only over the object with that ETag
    (S3Error OBJECT_EXISTS otherwise). `acl`: a canned ACL (BUCKET_OWNER_FULL_CONTROL into a tenant's bucket)."""
    extra = {**_encryption_args(kms_key_id, sse), **object_lock_args(body, object_lock),
             **_condition_args(if_none_match, if_match), **({"ACL": acl} if acl else {})}
    if metadata:
        extra["Metadata"] = metadata
    with _explained(target):
        client(target).put_object(Bucket=target.bucket, Key=key, Body=body, ContentType=content_type, **extra)
    return hashlib.sha256(body).hexdigest()


def object_lock_args(body: bytes, object_lock: tuple[str, object] | None) -> dict:
    """The PUT arguments of a write-once object: uploads to Object Lock buckets need a checksum
    header, so Content-MD5 goes with them."""
    if not object_lock:
        return {}
    return {"ObjectLockMode": object_lock[0], "ObjectLockRetainUntilDate": object_lock[1],
            "ContentMD5": base64.b64encode(hashlib.md5(body).digest()).decode()}  # noqa: S324 - S3's header


def object_lock_enabled(target: S3Target) -> bool:
    """Whether the bucket has Object Lock (GetObjectLockConfiguration); other failures raise S3Error."""
    with _explained(target):
        try:
            config = client(target).get_object_lock_configuration(Bucket=target.bucket)
        except ClientError as exc:
            if _client_error_reason(exc) == S3Error.NO_OBJECT_LOCK:
                return False
            raise
    return config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"


def storage_object_lock_enabled(storage: S3Storage) -> bool:
    return object_lock_enabled(_storage_target(storage))


def get_object(target: S3Target, key: str) -> bytes:
    with _explained(target):
        return client(target).get_object(Bucket=target.bucket, Key=key)["Body"].read()


def delete_object(target: S3Target, key: str) -> None:
    with _explained(target):
        client(target).delete_object(Bucket=target.bucket, Key=key)


def head_object(target: S3Target, key: str) -> dict | None:
    """The object's metadata (ContentLength, Metadata, …), or None when it does not exist."""
    with _explained(target):
        try:
            return client(target).head_object(Bucket=target.bucket, Key=key)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise


def _condition_args(if_none_match: bool, if_match: str) -> dict:
    if if_match:
        return {"IfMatch": if_match}
    return {"IfNoneMatch": "*"} if if_none_match else {}


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
                 kms_key_id: str = "", sse: bool = False, part_size: int = PART_SIZE,
                 metadata: dict | None = None, if_none_match: bool = False, if_match: str = "", acl: str = ""):
        self.target, self.key, self.content_type = target, key, content_type
        self.extra = {**_encryption_args(kms_key_id, sse), **({"Metadata": metadata} if metadata else {}),
                      **({"ACL": acl} if acl else {})}
        # checked when the object appears (the single PUT or the completion), so nothing is replaced
        self.condition = _condition_args(if_none_match, if_match)
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
        with _explained(self.target):
            if self.upload_id is None:
                self.upload_id = s3.create_multipart_upload(
                    Bucket=self.target.bucket, Key=self.key, ContentType=self.content_type, **self.extra
                )["UploadId"]
            number = len(self.parts) + 1
            etag = s3.upload_part(Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id,
                                  PartNumber=number, Body=chunk)["ETag"]
        self.parts.append({"PartNumber": number, "ETag": etag})

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            self.abort()
            return False
        try:
            with _explained(self.target):
                self._finish()
        except S3Error:
            self.abort()
            raise
        return False

    def _finish(self) -> None:
        if self.upload_id is None:
            client(self.target).put_object(Bucket=self.target.bucket, Key=self.key, Body=bytes(self.buffer),
                                           ContentType=self.content_type, **self.extra, **self.condition)
            return
        if self.buffer:
            self._send_part(bytes(self.buffer))
        client(self.target).complete_multipart_upload(
            Bucket=self.target.bucket, Key=self.key, UploadId=self.upload_id,
            MultipartUpload={"Parts": self.parts}, **self.condition)

    def abort(self) -> None:
        if self.upload_id is None:
            return
        # best effort: the abort-incomplete lifecycle rule (ensure_abort_incomplete_rule, put by
        # the export connection's Test connection) cleans up whatever is left
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
    with _explained(target):
        listing = s3.list_multipart_uploads(Bucket=target.bucket, Prefix=prefix)
        for upload in listing.get("Uploads", []):
            s3.abort_multipart_upload(Bucket=target.bucket, Key=upload["Key"], UploadId=upload["UploadId"])
            count += 1
    return count


# --- lifecycle rules (read, replace ours, keep everyone else's) ----------------------
def _rules(s3, bucket: str) -> list[dict]:
    try:
        return s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") != "NoSuchLifecycleConfiguration":
            raise
        return []


def _put_rule(target: S3Target, rule: dict) -> None:
    s3 = client(target)
    with _explained(target):
        rules = [r for r in _rules(s3, target.bucket) if r.get("ID") != rule["ID"]]
        s3.put_bucket_lifecycle_configuration(Bucket=target.bucket,
                                              LifecycleConfiguration={"Rules": [*rules, rule]})


def abort_incomplete_rule_id(prefix: str) -> str:
    return f"mktops-abort-incomplete-{prefix or 'all'}"[:255]


def ensure_abort_incomplete_rule(target: S3Target, prefix: str = "", days: int = 1) -> None:
    """Abort multipart uploads abandoned under `prefix` for `days` (a worker killed mid-upload
    leaves parts that are billed but never shown)."""
    _put_rule(target, {"ID": abort_incomplete_rule_id(prefix), "Status": "Enabled", "Filter": {"Prefix": prefix},
                       "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": days}})


def lifecycle_expiration_days(target: S3Target, prefix: str) -> int | None:
    """Read back the expiration (days) of the enabled lifecycle rule for exactly `prefix`, if any."""
    with _explained(target):
        rules = _rules(client(target), target.bucket)
    for rule in rules:
        rule_prefix = rule.get("Filter", {}).get("Prefix", rule.get("Prefix"))
        if rule_prefix == prefix and rule.get("Status") == "Enabled" and "Expiration" in rule:
            return rule["Expiration"].get("Days")
    return None


@dataclass(frozen=True)
class ExpirationRule:
    """An enabled lifecycle rule that expires current objects under (part of) a prefix."""

    rule_id: str
    prefix: str  # the rule's own prefix ("" is the whole bucket)
    days: int | None  # Expiration.Days, or None when it expires on a date
    date: str = ""  # Expiration.Date (ISO), when so
    covers_all: bool = True  # False: it covers only part of the prefix asked about


def _rule_prefix(rule: dict) -> str | None:
    """The prefix a rule filters on; None when it filters on tags or sizes (objects we write never
    carry tags, so such a rule does not apply to them as a whole)."""
    filt = rule.get("Filter")
    if filt is None:
        return rule.get("Prefix", "")
    if "And" in filt:
        parts = filt["And"]
        return None if parts.get("Tags") or "ObjectSizeGreaterThan" in parts or "ObjectSizeLessThan" in parts \
            else parts.get("Prefix", "")
    if "Tag" in filt or "ObjectSizeGreaterThan" in filt or "ObjectSizeLessThan" in filt:
        return None
    return filt.get("Prefix", "")


def lifecycle_expiration_rules(target: S3Target, prefix: str) -> list[ExpirationRule]:
    """Read the bucket's lifecycle configuration (s3:GetLifecycleConfiguration; nothing is written)
    and return the enabled rules that expire objects under `prefix`: those whose prefix contains it
    (covering all of it) or lies inside it (covering part)."""
    with _explained(target):
        rules = _rules(client(target), target.bucket)
    found = []
    for rule in rules:
        rule_prefix = _rule_prefix(rule)
        expiration = rule.get("Expiration") or {}
        if rule.get("Status") != "Enabled" or rule_prefix is None or not (
                "Days" in expiration or "Date" in expiration):
            continue
        if prefix.startswith(rule_prefix) or rule_prefix.startswith(prefix):
            date = expiration.get("Date")
            found.append(ExpirationRule(rule_id=rule.get("ID", ""), prefix=rule_prefix, days=expiration.get("Days"),
                                        date=date.date().isoformat() if hasattr(date, "date") else str(date or ""),
                                        covers_all=prefix.startswith(rule_prefix)))
    return found


def ensure_expiration_rule(target: S3Target, prefix: str, days: int, rule_id: str) -> None:
    """Expire objects under `prefix` after `days` (replaces the rule `rule_id`, keeps the others)."""
    _put_rule(target, {"ID": rule_id[:255], "Status": "Enabled", "Filter": {"Prefix": prefix},
                       "Expiration": {"Days": days}})


# --- added for S3 exports ---------------------------------------------------------
def bucket_region(target: S3Target) -> str | None:
    """The region the bucket lives in, or None when we may not ask (no s3:GetBucketLocation)."""
    try:
        with _explained(target):
            location = client(target).get_bucket_location(Bucket=target.bucket).get("LocationConstraint")
    except S3Error as error:
        if error.reason == S3Error.ACCESS_DENIED:
            return None
        raise
    # S3 answers no constraint for us-east-1, and "EU" for the oldest eu-west-1 buckets
    return {None: "us-east-1", "": "us-east-1", "EU": "eu-west-1"}.get(location, location)


# --- the platform's own bucket, through django-storages ------------------------------------
class PlatformS3Storage(S3Storage):
    """django-storages' S3Storage for the platform bucket (STORAGES["archive"]), with the client
    settings every client of ours has: checksums only when required, retries, timeouts."""

    def __init__(self, **options):
        options.setdefault("client_config", _config(options.get("region_name") or "",
                                                    options.get("endpoint_url") or ""))
        super().__init__(**options)


def is_bucket_storage(storage) -> bool:
    return isinstance(storage, S3Storage)


def _storage_target(storage: S3Storage) -> S3Target:
    return S3Target(bucket=storage.bucket_name, region=storage.region_name or "",
                    endpoint_url=storage.endpoint_url or "", access_key_id=storage.access_key or "",
                    secret_access_key=storage.secret_key or "")


def _storage_client(storage: S3Storage):
    """The client for the storage's bucket, endpoint and credentials. S3Storage keeps one boto3
    resource per thread, and the archive's writer threads are new for every batch: building a
    resource cost up to a second each, so the writes share one client (thread-safe) instead."""
    return client(_storage_target(storage))


def storage_put(storage: S3Storage, key: str, body: bytes, *, content_type: str, sse: bool = True,
                object_lock: tuple[str, object] | None = None, metadata: dict | None = None) -> None:
    """Write one object to the storage's bucket with its settings. S3Storage.save() takes only
    per-name parameters (get_object_parameters), so the per-object metadata (sha256) and
    Object Lock retention go with a PUT of our own; one PUT, as messages are small."""
    extra = {**_encryption_args("", sse), **object_lock_args(body, object_lock)}
    if metadata:
        extra["Metadata"] = metadata
    with _explained(_storage_target(storage)):
        _storage_client(storage).put_object(Bucket=storage.bucket_name, Key=key, Body=body,
                                            ContentType=content_type, **extra)


def storage_head(storage: S3Storage, key: str) -> dict | None:
    with _explained(_storage_target(storage)):
        try:
            return _storage_client(storage).head_object(Bucket=storage.bucket_name, Key=key)
        except ClientError as exc:
            if _not_found(exc):
                return None
            raise


def storage_read(storage: S3Storage, key: str) -> bytes:
    target = _storage_target(storage)
    with _explained(target):
        try:
            with storage.open(key, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise S3Error(S3Error.NO_SUCH_KEY, _sentence(S3Error.NO_SUCH_KEY, target)) from None


def storage_delete(storage: S3Storage, key: str) -> None:
    with _explained(_storage_target(storage)):
        storage.delete(key)
