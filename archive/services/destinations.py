"""Where a tenant's files go: the platform bucket (or the local folder standing in for it),
the tenant's own S3 bucket, or the tenant's SFTP server. Every failure comes out as a
`DeliveryError` with a stable reason and a sentence a person can act on."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import storages

from archive.models import ArchiveSettings, Destination
from mktops import clock
from mktops.crypto import decrypt_bytes, encrypt_bytes
from mktops.errors import OutsideError
from mktops.storage import buckets, s3

log = logging.getLogger(__name__)

# reasons, in words, shown on the settings page and on each failed message
# Each reason here is one an archive path can give (tests/archive/test_hole_07*.py provoke each).
# Not here, so they come out as "other" in the storage layer's words: SFTP's "no_such_file" (only
# reading a file gives it, and the archive never reads from SFTP: a write that finds no file names
# the folder) and S3's "object_locked" (the archive never deletes or replaces an object version:
# a PUT over a locked key makes a new version, and the probe's delete leaves a delete marker).
REASONS = {
    "access_denied": "Access revoked or denied",
    "no_such_bucket": "Bucket missing",
    "no_such_folder": "Folder missing",
    "no_such_key": "File missing",
    "wrong_region": "Bucket is in another region",
    "kms_denied": "The KMS key refused access",
    "auth_failed": "Wrong SFTP credentials",
    "host_key_mismatch": "SFTP server's host key changed",
    "host_key_missing": "SFTP host key fingerprint not set",
    "permission_denied": "Permission denied on the SFTP folder",
    "unreachable": "Host unreachable, blocked by a firewall, or destination down",
    "address_refused": "Host not allowed (not a public address)",
    "no_object_lock": "Bucket has no Object Lock (write-once storage is not enabled on it)",
    "render_failed": "Message could not be rendered as a file",
    "bad_key": "File path template or file path not valid",
    "content_gone": "Message content gone",
    "not_configured": "Destination not configured",
    "invalid_request": "Destination refused the request",
    "bucket_not_allowed": "Bucket not allowed (the platform's, or another tenant's)",
    "other": "Destination failed",
}


ERR_NO_OBJECT_LOCK = ("The bucket {bucket!r} has no Object Lock, but write-once storage (Object Lock) is chosen: "
                      "files could not be stored. Object Lock is enabled when a bucket is created: use a bucket "
                      "created with Object Lock enabled, or ask your CSM to change the write-once setting.")


class DeliveryError(OutsideError):
    def __init__(self, reason: str, message: str):
        super().__init__(reason if reason in REASONS else "other", message)

    @property
    def words(self) -> str:
        return REASONS[self.reason]


class Store:
    """One destination, resolved from a tenant's settings: write, read, probe, readable.

    Every failure comes out as a `DeliveryError` (the public functions below wrap them)."""

    kind: str = ""
    readable = True  # the platform can read files back (not from the tenant's SFTP server)
    lock_mode: str = ""
    lock_days: int = 0

    def write(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        raise NotImplementedError

    def read(self, key: str) -> bytes:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the store holds for a batch (the SFTP store's sessions)."""

    def probe(self) -> str:
        """Write and remove a probe file; returns what was checked."""
        raise NotImplementedError

    def _lock(self) -> tuple[str, object] | None:
        if self.lock_mode and self.lock_days:
            return self.lock_mode, clock.now() + timedelta(days=self.lock_days)
        return None

    def _probe_lock(self) -> tuple[str, object] | None:
        """The probe is written as messages are, with the configured mode; retained one day only,
        so a probe never stays for the full retention."""
        if self.lock_mode and self.lock_days:
            return self.lock_mode, clock.now() + timedelta(days=PROBE_LOCK_DAYS)
        return None

    def _lock_words(self) -> str:
        return (f" with Object Lock ({self.lock_mode.lower()}, the probe retained {PROBE_LOCK_DAYS} day)"
                if self._probe_lock() else "")

    def _already_locked(self, head: dict | None, sha256: str) -> bool:
        """A locked file cannot be replaced: if a crashed attempt already stored it, keep that one."""
        return bool(self.lock_mode) and head is not None and head.get("Metadata", {}).get("sha256") == sha256


# Kept as the name callers and type hints use.
Target = Store


def _probe_key() -> str:
    return f".mktops-connection-test-{secrets.token_hex(6)}.txt"


PROBE_DATA = b"mktops archive connection test\n"
PROBE_LOCK_DAYS = 1


class PlatformFolderStore(Store):
    """The local folder standing in for the platform bucket (the demo's default), through
    storages["archive"] (a FileSystemStorage); files are encrypted at rest."""

    kind = Destination.PLATFORM

    def __init__(self, storage):
        self.storage = storage

    def _path(self, key: str) -> Path:
        try:
            return Path(self.storage.path(key))
        except SuspiciousFileOperation as exc:
            raise DeliveryError("invalid_request", f"The file path {key!r} leaves the archive folder.") from exc

    def write(self, key: str, data: bytes, *, content_type: str = "", sha256: str = "") -> None:
        path = self._path(key)
        # written under a temporary name, then renamed: a reader never sees half a file
        tmp = self.storage.save(f"{key}.{secrets.token_hex(4)}.tmp", ContentFile(encrypt_bytes(data)))
        os.replace(self.storage.path(tmp), path)

    def read(self, key: str) -> bytes:
        self._path(key)
        try:
            with self.storage.open(key, "rb") as f:
                return decrypt_bytes(f.read())
        except FileNotFoundError as exc:
            raise DeliveryError("no_such_key", f"The file {key!r} is not in the archive folder.") from exc

    def probe(self) -> str:
        key = _probe_key()
        self.write(key, PROBE_DATA)
        self.storage.delete(key)
        return f"Wrote and removed {key} in the local archive folder."


class PlatformBucketStore(Store):
    """The platform's archive bucket, through storages["archive"] (django-storages' S3Storage);
    SSE-S3 always, Object Lock when the tenant chose it."""

    kind = Destination.PLATFORM

    def __init__(self, storage, *, lock_mode: str = "", lock_days: int = 0):
        self.storage, self.lock_mode, self.lock_days = storage, lock_mode, lock_days

    def write(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        if self.lock_mode and self._already_locked(s3.storage_head(self.storage, key), sha256):
            return
        s3.storage_put(self.storage, key, data, content_type=content_type, sse=True, object_lock=self._lock(),
                       metadata={"sha256": sha256})

    def read(self, key: str) -> bytes:
        return s3.storage_read(self.storage, key)

    def probe(self) -> str:
        if self.lock_mode and not s3.storage_object_lock_enabled(self.storage):
            raise DeliveryError("no_object_lock", ERR_NO_OBJECT_LOCK.format(bucket=self.storage.bucket_name))
        key = _probe_key()
        s3.storage_put(self.storage, key, PROBE_DATA, content_type="text/plain", object_lock=self._probe_lock())
        s3.storage_delete(self.storage, key)
        return f"Wrote{self._lock_words()} and removed {key} in bucket {self.storage.bucket_name}."


class TenantBucketStore(Store):
    """The tenant's own S3 bucket: its own client per connection (mktops.storage.s3)."""

    kind = Destination.S3

    def __init__(self, target: s3.S3Target, *, prefix: str = "", kms_key_id: str = "", lock_mode: str = "",
                 lock_days: int = 0):
        self.target, self.prefix, self.kms_key_id = target, prefix, kms_key_id
        self.lock_mode, self.lock_days = lock_mode, lock_days

    def full_key(self, key: str) -> str:
        return f"{self.prefix}{key}"

    def write(self, key: str, data: bytes, *, content_type: str, sha256: str) -> None:
        full = self.full_key(key)
        if self.lock_mode and self._already_locked(s3.head_object(self.target, full), sha256):
            return
        s3.put_object(self.target, full, data, content_type=content_type, kms_key_id=self.kms_key_id,
                      object_lock=self._lock(), metadata={"sha256": sha256})

    def read(self, key: str) -> bytes:
        return s3.get_object(self.target, self.full_key(key))

    def probe(self) -> str:
        if self.lock_mode and not s3.object_lock_enabled(self.target):
            raise DeliveryError("no_object_lock", ERR_NO_OBJECT_LOCK.format(bucket=self.target.bucket))
        full = self.full_key(_probe_key())
        s3.put_object(self.target, full, PROBE_DATA, content_type="text/plain", kms_key_id=self.kms_key_id,
                      object_lock=self._probe_lock())
        s3.delete_object(self.target, full)
        return f"Wrote{self._lock_words()} and removed {full} in bucket {self.target.bucket}."


class SftpStore(Store):
    """The tenant's SFTP server: write-only for the platform. Within a batch (`store_batch`) its
    writes share the SSH sessions of one pool; alone, each write logs in and out."""

    kind = Destination.SFTP
    readable = False

    def __init__(self, target):
        self.target = target
        self.pool = None

    def write(self, key: str, data: bytes, *, content_type: str = "", sha256: str = "") -> None:
        from mktops.storage import sftp

        if self.pool is not None:
            self.pool.put_file(key, data)
        else:
            sftp.put_file(self.target, key, data)

    def open_pool(self) -> None:
        from mktops.storage import sftp

        self.pool = sftp.SessionPool(self.target)

    def close(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None

    def read(self, key: str) -> bytes:
        raise DeliveryError("other", "Messages stored on the tenant's SFTP server cannot be read back.")

    def probe(self) -> str:
        from mktops.storage import sftp

        key = _probe_key()
        sftp.put_file(self.target, key, PROBE_DATA)
        sftp.remove_file(self.target, key)
        return f"Wrote and removed {key} on {self.target.host}."


def _folder_prefix(folder: str) -> str:
    folder = folder.strip("/")
    return f"{folder}/" if folder else ""


_batch = threading.local()


@contextlib.contextmanager
def store_batch() -> Iterator[None]:
    """Within the block, `target_for` gives one SFTP store per tenant and destination, whose writes
    reuse its open SSH sessions; they are closed at the end (a batch logs in once, not per file)."""
    if getattr(_batch, "stores", None) is not None:  # nested: the outer batch owns the stores
        yield
        return
    _batch.stores = {}
    try:
        yield
    finally:
        stores, _batch.stores = _batch.stores, None
        for store in stores.values():
            store.close()


def _sftp_store(cfg: ArchiveSettings) -> Store:
    stores = getattr(_batch, "stores", None)
    if stores is None:
        return SftpStore(_sftp_target(cfg))
    target = _sftp_target(cfg)
    # keyed by the whole target: settings changed during the batch get a store of their own
    if target not in stores:
        stores[target] = SftpStore(target)
        stores[target].open_pool()
    return stores[target]


def target_for(cfg: ArchiveSettings) -> Store:
    """The store the tenant's settings name."""
    lock = {"lock_mode": cfg.object_lock_mode, "lock_days": cfg.object_lock_days}
    if cfg.destination == Destination.S3:
        # refused here too, not only at save: a row stored around the form never reaches another's bucket
        with _delivery_errors():
            target = buckets.tenant_target(bucket=cfg.s3_bucket, region=cfg.s3_region or None,
                                           tenant_id=cfg.tenant_id)
        return TenantBucketStore(target, prefix=_folder_prefix(cfg.s3_folder), kms_key_id=cfg.s3_kms_key_arn,
                                 **lock)
    if cfg.destination == Destination.SFTP:
        return _sftp_store(cfg)
    return platform_store(**lock)


def platform_store(*, lock_mode: str = "", lock_days: int = 0) -> Store:
    """The platform's own store: storages["archive"], the bucket or the local folder (settings.STORAGES)."""
    storage = storages["archive"]
    if s3.is_bucket_storage(storage):
        return PlatformBucketStore(storage, lock_mode=lock_mode, lock_days=lock_days)
    return PlatformFolderStore(storage)


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
    if isinstance(exc, OSError):  # the local folder; its path and the OS's words are ours to log, not show
        log.warning("local archive folder failed", exc_info=exc)
        return DeliveryError("other", "The local archive folder failed: check its permissions and free space.")
    log.warning("unexpected destination failure", exc_info=exc)
    return DeliveryError("other", "Unexpected failure of the destination.")


@contextlib.contextmanager
def _delivery_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        raise _wrap(exc) from exc


# --- the operations ------------------------------------------------------------------
def destination_write(*, target: Store, key: str, data: bytes, content_type: str, sha256: str) -> None:
    with _delivery_errors():
        target.write(key, data, content_type=content_type, sha256=sha256)


def destination_read(*, target: Store, key: str) -> bytes:
    with _delivery_errors():
        return target.read(key)


def destination_probe(*, target: Store) -> str:
    """Write and remove a probe file; returns what was checked, raises DeliveryError."""
    with _delivery_errors():
        return target.probe()
