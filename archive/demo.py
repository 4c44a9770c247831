"""The demo's archive: the platform store (a local folder in the demo) confirmed as the destination
by the demo operator, so the demo's sent messages are archived as they are ingested."""

from archive.services.config import archive_destination_confirm, tenant_has_archived
from archive.services.delivery import archive_settings_for


def seed(*, tenant, users, out) -> None:
    cfg = archive_settings_for(tenant=tenant)
    if cfg.locked_at is not None or tenant_has_archived(tenant_id=tenant.pk):
        return
    archive_destination_confirm(cfg=cfg, by=users["operator"], acknowledged=True)
    out.write("  archive: the platform store confirmed as the destination by demo-operator")
