"""What django-q2 executes. Each task is thin: the rules are in archive.services."""

from __future__ import annotations

import logging
from time import sleep

from archive.models import ArchivedMessage
from archive.services import intake, repair
from archive.services.delivery import archived_messages_deliver
from mktops import clock
from mktops.jobs import JobStatus, due_ids, enqueue

log = logging.getLogger(__name__)

# short retries (SFTP: 5 s) are waited for inside the task; longer ones go back to the sweeper
WAIT_IN_TASK_SECONDS = 10
SWEEP_BATCH = 200


def deliver(pks: list[int]) -> int:
    """Write these rows; keep going while a retry falls due within a few seconds. Returns rows stored."""
    stored = 0
    pending = list(pks)
    while pending:
        rows = archived_messages_deliver(pks=pending)
        stored += sum(1 for r in rows if r.status == JobStatus.DONE)
        soon = [r for r in rows if r.status == JobStatus.RETRYING
                and (r.next_attempt_at - clock.now()).total_seconds() <= WAIT_IN_TASK_SECONDS]
        if not soon:
            break
        wait = max((r.next_attempt_at - clock.now()).total_seconds() for r in soon)
        sleep(max(0.0, wait))
        pending = [r.pk for r in soon]
    return stored


def deliver_events(tenant_id: int, event_ids: list[int]) -> int:
    """Enqueued by the ingest receiver: make the rows of these sent events (queued, or
    skipped with their reason) and write the queued ones. Returns rows stored."""
    from mktops.models import Tenant

    tenant = Tenant.objects.filter(pk=tenant_id).first()
    if tenant is None:
        return 0
    # a rerun (the worker died) makes no second row: the pending ones are written then
    intake.archived_messages_create(tenant=tenant, event_ids=event_ids)
    pks = list(ArchivedMessage.objects.filter(tenant_id=tenant_id, event_id__in=event_ids,
                                              status=JobStatus.PENDING).values_list("pk", flat=True))
    return deliver(pks)


def sweep() -> dict:
    """Periodic: rows for sent events a receiver missed, due and abandoned rows, the purge."""
    created = intake.archived_messages_backfill()
    ids = due_ids(ArchivedMessage, limit=5000)
    for start in range(0, len(ids), SWEEP_BATCH):
        enqueue("archive.tasks.deliver", ids[start:start + SWEEP_BATCH])
    purged = repair.internal_copies_purge()
    return {"created": created, "enqueued": len(ids), "purged": purged}


def daily() -> dict:
    """Daily: the retention rule on each archiving tenant's prefix, and yesterday's manifests."""
    from archive.services import manifest
    from archive.services.config import archive_lifecycle_apply
    from mktops.models import Tenant

    results = {}
    for tenant in Tenant.objects.filter(archive_enabled=True):
        try:
            results[tenant.slug] = {"retention": archive_lifecycle_apply(tenant=tenant)[0],
                                    "manifest": bool(manifest.manifest_write_yesterday(tenant=tenant))}
        except Exception:  # one tenant's broken bucket must not stop the others
            log.exception("archive daily work for %s failed", tenant.slug)
    return results
