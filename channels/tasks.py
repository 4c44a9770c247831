"""What django-q2 executes. Thin: the rules are in channels.services."""

from __future__ import annotations

from channels.models import ChannelBindJob
from channels.services.binding import bind_run as bind_attempt
from mktops.jobs import claim, due_ids, enqueue


def bind_run(job_id: int) -> str:
    """One attempt of a bind job, if it is due and nobody else has it."""
    job = claim(ChannelBindJob, job_id)
    if job is None:
        return "not claimed"
    return bind_attempt(job=job)


def sweep() -> dict:
    """Periodic: bind jobs whose retry is due, and those a lost task or a dead worker left behind."""
    ids = due_ids(ChannelBindJob, limit=500)
    for pk in ids:
        enqueue("channels.tasks.bind_run", pk)
    return {"bind_jobs": len(ids)}
