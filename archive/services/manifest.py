"""Tamper evidence: a daily manifest per tenant (each stored file's key and SHA-256, and the
previous manifest's hash), stored beside the files; Verify re-reads files and compares."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, time, timedelta

from archive.models import ArchivedMessage, ArchiveSettings, Destination, Manifest, Outcome
from archive.services.destinations import DeliveryError, destination_read, destination_write, target_for
from mktops import clock
from mktops.models import Tenant
from mktops.services import audit_log_write

ERR_SFTP_VERIFY = "Files on the tenant's SFTP server cannot be read back by the platform; verify them there."


def manifest_key(*, tenant: Tenant, day: date) -> str:
    return f"{tenant.db_name}/manifests/{day:%Y-%m-%d}.json"


def _stored_on(tenant: Tenant, day: date):
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return (ArchivedMessage.objects.filter(tenant=tenant, outcome=Outcome.STORED, stored_at__gte=start,
                                           stored_at__lt=start + timedelta(days=1))
            .order_by("stored_at", "id").values_list("key", "sha256", "destination"))


def manifest_write(*, tenant: Tenant, day: date) -> Manifest | None:
    """Write the manifest of `day` (idempotent: an existing one is kept)."""
    existing = Manifest.objects.filter(tenant=tenant, day=day).first()
    if existing:
        return existing
    previous = Manifest.objects.filter(tenant=tenant, day__lt=day).order_by("-day").first()
    files = [{"key": k, "sha256": h, "destination": d} for k, h, d in _stored_on(tenant, day)]
    doc = {"tenant": tenant.db_name, "day": day.isoformat(), "files": files,
           "previous_manifest_sha256": previous.sha256 if previous else None}
    data = json.dumps(doc, indent=2, sort_keys=True).encode()
    digest = hashlib.sha256(data).hexdigest()
    cfg, _ = ArchiveSettings.objects.get_or_create(tenant=tenant)
    key = manifest_key(tenant=tenant, day=day)
    destination_write(target=target_for(cfg), key=key, data=data, content_type="application/json", sha256=digest)
    return Manifest.objects.create(tenant=tenant, day=day, key=key, sha256=digest, file_count=len(files),
                                   previous_sha256=previous.sha256 if previous else "")


def manifest_write_yesterday(*, tenant: Tenant) -> Manifest | None:
    return manifest_write(tenant=tenant, day=clock.now().date() - timedelta(days=1))


def _verify_files(cfg: ArchiveSettings, doc: dict) -> list[str]:
    problems = []
    for item in doc["files"]:
        cfg.destination = item["destination"]
        try:
            actual = hashlib.sha256(destination_read(target=target_for(cfg), key=item["key"])).hexdigest()
        except DeliveryError as err:
            problems.append(f"{item['key']}: {err.words}")
            continue
        if actual != item["sha256"]:
            problems.append(f"{item['key']}: SHA-256 differs from the manifest")
    return problems


def manifest_verify(*, manifest: Manifest, by=None) -> tuple[bool, str]:
    """Re-read the manifest and each file it lists; report every mismatch in words."""
    cfg = ArchiveSettings.objects.select_related("tenant").get(tenant=manifest.tenant)
    if cfg.destination == Destination.SFTP:
        return False, ERR_SFTP_VERIFY
    problems: list[str] = []
    try:
        data = destination_read(target=target_for(cfg), key=manifest.key)
    except DeliveryError as err:
        data, problems = b"", [f"manifest {manifest.key}: {err.words}"]
    if data and hashlib.sha256(data).hexdigest() != manifest.sha256:
        problems.append(f"manifest {manifest.key}: SHA-256 differs from the one recorded")
    if data:
        doc = json.loads(data)
        previous = Manifest.objects.filter(tenant=manifest.tenant, day__lt=manifest.day).order_by("-day").first()
        if (doc.get("previous_manifest_sha256") or "") != (previous.sha256 if previous else ""):
            problems.append("the chain is broken: previous_manifest_sha256 does not match the previous manifest")
        problems += _verify_files(cfg, doc)
    ok = not problems
    text = (f"Verified {manifest.file_count} file(s) of {manifest.day}: all match." if ok
            else f"{len(problems)} mismatch(es) in {manifest.day}: " + "; ".join(problems[:20]))
    Manifest.objects.filter(pk=manifest.pk).update(verified_at=clock.now(), verify_result=text)
    audit_log_write(user=by, action="archive.verify", tenant=manifest.tenant, obj=manifest, detail={"ok": ok})
    return ok, text
