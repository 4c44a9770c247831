"""Where a tenant's files go: the platform bucket (or the local folder standing in for it),
the tenant's own S3 bucket, or the tenant's SFTP server. Every failure comes out as a
`DeliveryError` with a stable reason and a sentence a person can act on."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings

from archive.models import ArchiveSettings, Destination
from mktops import clock
from mktops.crypto import decrypt_bytes, encrypt_bytes
from mktops.errors import OutsideError
from mktops.storage import s3

# reasons, in words, shown on the settings page and on each failed message
REASONS = {
    "access_denied": "Access revoked or denied",
    "no_such_bucket": "Bucket missing",
    "no_such_folder": "Folder missing",
    "no_such_key": "File missing",
    "no_such_file": "File missing",
    "wrong_region": "Bucket is in another region",
    "kms_denied": "The KMS key refused access",
    "auth_failed": "Wrong SFTP credentials",
    "host_key_mismatch": "SFTP server's host key changed",
    "host_key_missing": "SFTP host key fingerprint not set",
    "permission_denied": "Permission denied on the SFTP folder",
    "unreachable": "Host unreachable, blocked by a firewall, or destination down",
    "object_locked": "File is locked (write-once storage)",
    "not_configured": "Destination not configured",
    "invalid_request": "Destination refused the request",
    "other": "Destination failed",
}


class DeliveryError(OutsideError):
    def __init__(self, reason: str, message: str):
        super().__init__(reason if reason in REASONS else "other", message)

    @property
    def words(self) -> str:
        return REASONS[self.reason]


@dataclass
class Target:
    """One destination, resolved from a tenant's settings."""

    kind: str
    s3_target: s3.S3Target | None = None
    prefix: str = ""
    kms_key_id: str = ""
    sse: bool = False
    local_root: Path | None = None
    sftp_target: object = None
    lock_mode: str = ""
    lock_days: int = 0

    @property
    def readable(self) -> bool:
        """The platform can read files back from S3 and the local store, not from SFTP."""
        return self.kind != Destination.SFTP

    def full_key(self, key: str) -> str:
        return f"{self.prefix}{key}"


def _folder_prefix(folder: str) -> str:
    folder = folder.strip("/")
    return f"{folder}/" if folder else ""


def target_for(cfg: ArchiveSettings) -> Target:
    lock = {"lock_mode": cfg.object_lock_mode, "lock_days": cfg.object_lock_days}
    if cfg.destination == Destination.S3:
        return Target(kind=Destination.S3, prefix=_folder_prefix(cfg.s3_folder), kms_key_id=cfg.s3_kms_key_arn,
                      s3_target=s3.S3Target.platform(bucket=cfg.s3_bucket, region=cfg.s3_region or None), **lock)
    if cfg.destination == Destination.SFTP:
        return Target(kind=Destination.SFTP, sftp_target=_sftp_target(cfg))
    if settings.MKTOPS_ARCHIVE_BUCKET:
        return Target(kind=Destination.PLATFORM, s3_target=s3.S3Target.platform(), sse=True, **lock)
    return Target(kind=Destination.PLATFORM, local_root=Path(settings.MKTOPS_LOCAL_ARCHIVE_DIR))


def _sftp_target(cfg: ArchiveSettings):
    from mktops.storage import sftp

    return sftp.SftpTarget(
        host=cfg.sftp_host, port=cfg.sftp_port, username=cfg.sftp_username, password=cfg.sftp_password,
        private_key=cfg.sftp_private_key, host_key_fingerprint=cfg.sftp_host_key_fingerprint,
        folder=cfg.sftp_folder,
    )


def _wrap(exc: Exception) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, OutsideError):  # S3Error, SftpError
        return DeliveryError(exc.reason, exc.message)
    if isinstance(exc, OSError):
        return DeliveryError("other", f"The local archive folder failed: {exc}")
    return DeliveryError("other", f"Unexpected failure: {exc}")


# --- local folder (stands in for the platform bucket; files encrypted at rest) ---------
def _local_path(target: Target, key: str) -> Path:
    root = target.local_root.resolve()
    path = (root / key).resolve()
    if root not in path.parents:
        raise DeliveryError("invalid_request", f"The file path {key!r} leaves the archive folder.")
    return path


def _local_write(target: Target, key: str, data: bytes) -> None:
    path = _local_path(target, key)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_bytes(encrypt_bytes(data))
    os.replace(tmp, path)  # atomic: a reader never sees half a file


# --- the operations ------------------------------------------------------------------
def destination_write(*, target: Target, key: str, data: bytes, content_type: str, sha256: str) -> None:
    try:
        if target.local_root is not None:
            _local_write(target, key, data)
        elif target.s3_target is not None:
            _s3_write(target, key, data, content_type, sha256)
        else:
            from mktops.storage import sftp

            sftp.put_file(target.sftp_target, key, data)
    except Exception as exc:
        raise _wrap(exc) from exc


def _s3_write(target: Target, key: str, data: bytes, content_type: str, sha256: str) -> None:
    full = target.full_key(key)
    if target.lock_mode:
        # a locked file cannot be replaced: if a crashed attempt already stored it, keep that one
        head = s3.head_object(target.s3_target, full)
        if head is not None and head.get("Metadata", {}).get("sha256") == sha256:
            return
    lock = None
    if target.lock_mode and target.lock_days:
        lock = (target.lock_mode, clock.now() + timedelta(days=target.lock_days))
    s3.put_object(target.s3_target, full, data, content_type=content_type, kms_key_id=target.kms_key_id,
                  sse=target.sse, object_lock=lock, metadata={"sha256": sha256})


def destination_read(*, target: Target, key: str) -> bytes:
    try:
        if target.local_root is not None:
            return decrypt_bytes(_local_path(target, key).read_bytes())
        if target.s3_target is not None:
            return s3.get_object(target.s3_target, target.full_key(key))
    except FileNotFoundError as exc:
        raise DeliveryError("no_such_key", f"The file {key!r} is not in the archive folder.") from exc
    except Exception as exc:
        raise _wrap(exc) from exc
    raise DeliveryError("other", "Messages stored on the tenant's SFTP server cannot be read back.")


def destination_probe(*, target: Target) -> str:
    """Write and remove a probe file; returns what was checked, raises DeliveryError."""
    key = f".mktops-connection-test-{secrets.token_hex(6)}.txt"
    data = b"mktops archive connection test\n"
    try:
        if target.local_root is not None:
            _local_write(target, key, data)
            _local_path(target, key).unlink()
            return f"Wrote and removed {key} in the local archive folder."
        if target.s3_target is not None:
            s3.put_object(target.s3_target, target.full_key(key), data, content_type="text/plain",
                          kms_key_id=target.kms_key_id, sse=target.sse)
            s3.delete_object(target.s3_target, target.full_key(key))
            return f"Wrote and removed {target.full_key(key)} in bucket {target.s3_target.bucket}."
        from mktops.storage import sftp

        sftp.put_file(target.sftp_target, key, data)
        sftp.remove_file(target.sftp_target, key)
        return f"Wrote and removed {key} on {target.sftp_target.host}."
    except Exception as exc:
        raise _wrap(exc) from exc
