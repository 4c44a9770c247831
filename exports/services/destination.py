"""Where a run writes: its whole destination, copied from the connection as one piece.

A run carries bucket, region, prefix (folder and connection name), object key, KMS key and the
PGP key it encrypts to. Upload, manifest and clean-up read only the run's copy, so a run never
writes half to the old place and half to the new one.

When the operator changes any of these while a run still waits for its next attempt, that attempt
takes the whole destination afresh, with a new file name under the new prefix
(`schedule.run_repoint`).
Fresh rather than old, because the operator who fixes a typo in the bucket name or the folder
expects the pending file to follow the fix: a run that kept its old destination would retry a
bucket that does not exist forever and, being the connection's one active run, hold back every
later file. The events (the run's window and selection) stay as they were: only where they go
moves.

Writes never replace an object this run did not create: every object carries the run's token in
its metadata, is written with `If-None-Match: *`, and when something is already at the key the run
replaces it only if the token there is its own (an earlier attempt that died after the upload).
"""

from __future__ import annotations

from dataclasses import dataclass

from exports.models import ExportConnection, ExportRun, RunKind
from exports.services.paths import connection_prefix
from mktops.storage import buckets, s3

TOKEN_METADATA = "mktops-export-run"  # noqa: S105 - a metadata name; S3 lowercases it
ERR_KEY_TAKEN = ("An object already exists at s3://{bucket}/{key} that this run did not write; nothing was "
                 "overwritten. Remove or move that object, or change the folder, and retry.")


@dataclass(frozen=True)
class Destination:
    bucket: str
    region: str
    prefix: str
    kms_key_arn: str
    encrypted: bool
    pgp_public_key: str
    pgp_fingerprint: str


def connection_destination(connection: ExportConnection, *, kind: str) -> Destination:
    return Destination(
        bucket=connection.bucket, region=connection.region,
        prefix=connection_prefix(connection, backfill=kind == RunKind.BACKFILL),
        kms_key_arn=connection.kms_key_arn, encrypted=connection.encrypted,
        pgp_public_key=connection.pgp_public_key if connection.encrypted else "",
        pgp_fingerprint=connection.pgp_fingerprint if connection.encrypted else "")


def run_destination(run: ExportRun) -> Destination:
    return Destination(bucket=run.bucket, region=run.region, prefix=run.prefix, kms_key_arn=run.kms_key_arn,
                       encrypted=run.encrypted, pgp_public_key=run.pgp_public_key,
                       pgp_fingerprint=run.pgp_fingerprint)


def run_target(run: ExportRun) -> s3.S3Target:
    """The run's bucket, reached as `paths.connection_target` reaches a connection's (and refused
    as it is: `buckets.BucketNotAllowed` for the platform's or another tenant's bucket)."""
    return buckets.tenant_target(bucket=run.bucket, region=run.region, tenant_id=run.tenant_id)


def write_condition(run: ExportRun, key: str) -> dict:
    """How to write `key` without replacing anyone else's object: the keyword arguments for
    `s3.put_object` / `s3.MultipartUpload`.

    Nothing there: `If-None-Match: *`. This run's own object from an earlier attempt: `If-Match`
    its ETag. Anything else: S3Error OBJECT_EXISTS, nothing written."""
    metadata = {TOKEN_METADATA: str(run.token)}
    target = run_target(run)
    try:
        head = s3.head_object(target, key)
    except s3.S3Error:
        # not allowed to look (no s3:GetObject): the conditional write alone still protects the object
        head = None
    if head is None:
        return {"metadata": metadata, "if_none_match": True}
    if (head.get("Metadata") or {}).get(TOKEN_METADATA) == str(run.token):
        return {"metadata": metadata, "if_match": head["ETag"]}
    raise key_taken(run, key)


def key_taken(run: ExportRun, key: str) -> s3.S3Error:
    return s3.S3Error(s3.S3Error.OBJECT_EXISTS, ERR_KEY_TAKEN.format(bucket=run.bucket, key=key))
