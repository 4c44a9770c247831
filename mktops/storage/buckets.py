"""Who may name which bucket: a tenant's bucket is never the platform's, nor one another tenant
has configured.

The rule lives in the core because the features that take a bucket (archive, exports) must not
import each other: each registers, in its AppConfig.ready(), a function answering "which tenants
use this bucket", and both ask `bucket_claim_errors` when a bucket is saved and `tenant_target`
when one is about to be written to (a row stored before the rule, or by a path around the form).

Names are compared lower-cased: S3 bucket names are lower-case, so two spellings are one bucket.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.conf import settings

from mktops.models import Tenant
from mktops.storage.s3 import SESSION_TAG, S3Error, S3Target

ERR_BUCKET_PLATFORM = "This bucket belongs to the platform and cannot be a tenant's destination; name your own bucket."
ERR_BUCKET_CLAIMED = ("This bucket is already configured by another workspace on this platform; name a bucket "
                      "of your own.")
ERR_BUCKET_MISSING = "No bucket is set."
ERR_BUCKET_REFUSED = ("Nothing was written to bucket {bucket!r}: {rule} Change the bucket in the settings, or ask "
                      "platform support.")

# (bucket name, lower-cased) -> the ids of the tenants that configured it
BucketClaims = Callable[[str], Iterable[int]]
_claims: list[BucketClaims] = []


class BucketNotAllowed(S3Error):
    """A tenant's target names a bucket it may not use; raised before anything is sent to S3."""

    REASON = "bucket_not_allowed"

    def __init__(self, bucket: str, rule: str):
        super().__init__(self.REASON, ERR_BUCKET_REFUSED.format(bucket=bucket, rule=rule))


def tenant_condition(external_id: str) -> dict:
    """The Condition of every statement a tenant pastes: the platform's principal, acting for this
    tenant. A bucket policy sees the session tag as aws:PrincipalTag (sts:ExternalId exists only in
    a role's trust policy)."""
    return {"StringEquals": {f"aws:PrincipalTag/{SESSION_TAG}": external_id}}


def register_bucket_claims(claims: BucketClaims) -> None:
    """Add a feature's answer to "which tenants use this bucket" (idempotent, for ready())."""
    if claims not in _claims:
        _claims.append(claims)


def platform_buckets() -> set[str]:
    return {name.lower() for name in (settings.MKTOPS_ARCHIVE_BUCKET, *settings.MKTOPS_RESERVED_BUCKETS) if name}


def bucket_claim_errors(*, bucket: str, tenant_id: int | None) -> list[str]:
    """Why `tenant_id` may not use `bucket` (empty when it may). The message never says whose it is."""
    name = (bucket or "").strip().lower()
    if not name:
        return []
    if name in platform_buckets():
        return [ERR_BUCKET_PLATFORM]
    for claims in _claims:
        if any(other != tenant_id for other in claims(name)):
            return [ERR_BUCKET_CLAIMED]
    return []


def tenant_target(*, bucket: str, region: str | None, tenant_id: int) -> S3Target:
    """The tenant's own bucket, reached with the platform's credentials, once the rule allows it;
    `BucketNotAllowed` otherwise (also for no bucket: S3Target.platform would fall back to the
    platform's own)."""
    errors = bucket_claim_errors(bucket=bucket, tenant_id=tenant_id) if bucket else [ERR_BUCKET_MISSING]
    if errors:
        raise BucketNotAllowed(bucket, errors[0])
    return S3Target.platform(bucket=bucket, region=region, session_tag=_external_id(tenant_id))


def _external_id(tenant_id: int) -> str:
    """The tenant's session tag, read only when the platform assumes a role per tenant."""
    if not settings.MKTOPS_PLATFORM_ROLE_ARN:
        return ""
    return Tenant.objects.values_list("external_id", flat=True).get(pk=tenant_id)
