"""What django-q2 executes for channel health. Thin: the rules are in channels.health."""

from __future__ import annotations

from channels.health import health_check_run, health_checks_purge, health_checks_schedule
from channels.models import ChannelHealthCheck
from mktops.jobs import claim, due_ids, enqueue

SWEEP_MINUTES = 5


def health_sweep() -> dict:
    """Periodic: a check row for every Bound channel that is due, then every due row to a worker
    (new ones, and those a lost task or a dead worker left behind); old checks purged."""
    created = health_checks_schedule()
    ids = due_ids(ChannelHealthCheck, limit=500)
    for pk in ids:
        enqueue("channels.health_tasks.health_check", pk)
    return {"created": len(created), "enqueued": len(ids), "purged": health_checks_purge()}


def health_check(check_id: int) -> str:
    """One health check, if it is due and nobody else has it."""
    check = claim(ChannelHealthCheck, check_id)
    if check is None:
        return "not claimed"
    return health_check_run(check=check)
