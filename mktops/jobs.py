"""Background work as rows: django-q2 only executes, our rows own the state.

A job model inherits `Job`: a status, an attempt count, `next_attempt_at`
and a lease. The flow, for every feature:

1. a service creates the row (status PENDING, next_attempt_at = now) and
   calls `enqueue_on_commit(task_path, row.pk)`;
2. the task calls `claim(Model, pk)` (`claim_many` for a batch): a conditional
   UPDATE that succeeds for exactly one worker and only while the row is due,
   taking a lease;
3. the task does the work idempotently and records the outcome with
   `job.succeed()`, `job.retry_at(when, error)` or `job.fail(error)`;
4. a periodic sweeper (`due_ids` + enqueue) re-enqueues whatever is due,
   including rows whose lease expired because a worker died mid-work.

So a lost task, a crashed worker or a restarted cluster loses nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection, models, transaction
from django.db.models import Q, Value
from django.db.models.functions import Coalesce

from mktops import clock

log = logging.getLogger(__name__)


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    RETRYING = "retrying", "Waiting to retry"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


ACTIVE = (JobStatus.PENDING, JobStatus.RUNNING, JobStatus.RETRYING)


class Job(models.Model):
    status = models.CharField(max_length=16, choices=JobStatus.choices, default=JobStatus.PENDING,
                              db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True, db_index=True)
    # a claimed row is someone's until the lease ends; after that the sweeper
    # treats it as abandoned (the worker died) and hands it out again
    lease_until = models.DateTimeField(null=True, blank=True)
    # which worker process holds the claimed row (hostname:pid): when its heartbeat stops, the
    # sweeper hands the row out again before the lease ends
    lease_owner = models.CharField(max_length=255, blank=True, default="")
    first_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    LEASE = timedelta(minutes=10)

    class Meta:
        abstract = True

    # --- outcomes ---------------------------------------------------------
    # Every write of a claimed row holds only while the row is still this attempt's
    # (RUNNING, attempts = the claim's count): a worker whose lease ran out, and whose row
    # another worker reclaimed, must not overwrite that worker's outcome. Each returns
    # whether it won; a loser leaves its copy unchanged and should stop.
    def update_if_ours(self, **fields) -> bool:
        ours = type(self).objects.filter(pk=self.pk, status=JobStatus.RUNNING, attempts=self.attempts)
        if ours.update(**fields) != 1:
            return False
        for name, value in fields.items():
            setattr(self, name, value)
        return True

    def extend_lease(self, until) -> bool:
        """Keep the row while long work goes on (a heartbeat); False when someone else has it now."""
        return self.update_if_ours(lease_until=until)

    def _finish(self, **fields) -> bool:
        return self.update_if_ours(**{"lease_until": None, "lease_owner": "", **fields})

    def succeed(self, **fields) -> bool:
        return self._finish(**{"status": JobStatus.DONE, "finished_at": clock.now(), "next_attempt_at": None,
                               "last_error": "", **fields})

    def retry_at(self, when, error: str, **fields) -> bool:
        return self._finish(status=JobStatus.RETRYING, next_attempt_at=when, last_error=error, **fields)

    def fail(self, error: str, **fields) -> bool:
        return self._finish(**{"status": JobStatus.FAILED, "finished_at": clock.now(), "next_attempt_at": None,
                               "last_error": error, **fields})


# --- which worker holds a row, and whether it is alive ---------------------------------------------
def heartbeat_every() -> timedelta:
    return timedelta(seconds=settings.MKTOPS_WORKER_HEARTBEAT_SECONDS)


def gone_after() -> timedelta:
    """A worker that has not beaten for this long is dead: a few beats missed, well above the
    clock differences between machines (each compares with its own clock)."""
    return heartbeat_every() * 4


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:255]


def heartbeat_beat(*, owner: str | None = None) -> None:
    from mktops.models import WorkerHeartbeat

    WorkerHeartbeat.objects.update_or_create(owner=owner or worker_name(), defaults={"seen_at": clock.now()})


_beating: dict[int, threading.Thread] = {}


def heartbeat_start() -> None:
    """Beat from a daemon thread of this process until it dies (once per process). Started in each
    django-q2 worker as it spawns (mktops.apps): a worker that is killed stops beating, one that is
    only slow keeps beating and keeps its rows until their leases end."""
    pid = os.getpid()
    if pid in _beating:
        return

    def loop():
        while True:
            try:
                close_old_connections()
                heartbeat_beat()
            except Exception:  # the database away for a moment: beat again next time
                log.exception("worker heartbeat failed")
            time.sleep(heartbeat_every().total_seconds())

    _beating[pid] = threading.Thread(target=loop, name="mktops-heartbeat", daemon=True)
    _beating[pid].start()


def heartbeats_forget(*, now=None) -> int:
    """Drop heartbeats of workers gone for a day: every lease they held has ended since."""
    from mktops.models import WorkerHeartbeat

    now = now or clock.now()
    return WorkerHeartbeat.objects.filter(seen_at__lt=now - timedelta(days=1)).delete()[0]


def due_filter(now) -> Q:
    """Rows whose next attempt is due, or whose worker's lease ran out, or whose worker is known
    gone (its heartbeat stopped; a row of an owner with no heartbeat waits for its lease)."""
    from mktops.models import WorkerHeartbeat

    waiting = Q(status__in=(JobStatus.PENDING, JobStatus.RETRYING), next_attempt_at__lte=now)
    gone = WorkerHeartbeat.objects.filter(seen_at__lt=now - gone_after()).values("owner")
    abandoned = Q(status=JobStatus.RUNNING) & (Q(lease_until__lt=now) | Q(lease_owner__in=gone))
    return waiting | abandoned


def _first_attempt(now):
    """The row's first attempt time, set by the claim's own UPDATE (no read before it)."""
    return Coalesce("first_attempt_at", Value(now, output_field=models.DateTimeField()))


def claim(model: type[Job], pk, *, now=None, lease: timedelta | None = None) -> Job | None:
    """Take the row for this worker, or None when it is not due or someone else has it.

    The conditional UPDATE must change exactly one row; that is the lock.
    """
    now = now or clock.now()
    changed = model.objects.filter(due_filter(now), pk=pk).update(
        status=JobStatus.RUNNING,
        attempts=models.F("attempts") + 1,
        lease_until=now + (lease or model.LEASE),
        lease_owner=worker_name(),
        last_attempt_at=now,
        first_attempt_at=_first_attempt(now),
    )
    if changed != 1:
        return None
    return model.objects.get(pk=pk)


def claim_many(model: type[Job], pks, *, now=None, lease: timedelta | None = None,
               only: tuple[str, ...] = ()) -> list[Job]:
    """`claim` for a batch: the rows of `pks` this worker took, in the order of `pks`; with
    `only`, just those fields are read (and the ones the outcomes need), the rest deferred.

    One transaction: the due rows are selected (locked on PostgreSQL, skipping rows
    another worker is claiming right now; SQLite's IMMEDIATE transactions serialise
    writers) and updated together, so each row still goes to exactly one worker.
    """
    pks = list(pks)
    if not pks:
        return []
    now = now or clock.now()
    lease_until = now + (lease or model.LEASE)
    with transaction.atomic():
        due = model.objects.filter(due_filter(now), pk__one_of=pks)
        if connection.features.has_select_for_update_skip_locked:
            due = due.select_for_update(skip_locked=True)
        ids = list(due.values_list("pk", flat=True))
        if not ids:
            return []
        model.objects.filter(pk__one_of=ids).update(
            status=JobStatus.RUNNING,
            attempts=models.F("attempts") + 1,
            lease_until=lease_until,
            lease_owner=worker_name(),
            last_attempt_at=now,
            first_attempt_at=_first_attempt(now),
        )
    claimed = model.objects.filter(pk__one_of=ids)
    if only:
        claimed = claimed.only("status", "attempts", "lease_until", *only)
    rows = {row.pk: row for row in claimed}
    return [rows[pk] for pk in pks if pk in rows]


def due_ids(model: type[Job], *, now=None, limit: int = 500, extra: Q | None = None) -> list:
    now = now or clock.now()
    qs = model.objects.filter(due_filter(now))
    if extra is not None:
        qs = qs.filter(extra)
    return list(qs.order_by("next_attempt_at").values_list("pk", flat=True)[:limit])


def enqueue(func: str, *args, **kwargs) -> None:
    """Hand a task to django-q2 now (outside a transaction or from a sweeper)."""
    from django_q.tasks import async_task

    try:
        async_task(func, *args, **kwargs)
    except Exception:
        # the broker being down loses nothing: the row stays due for the sweeper
        log.exception("could not enqueue %s%r; the sweeper will pick it up", func, args)


def enqueue_on_commit(func: str, *args, **kwargs) -> None:
    transaction.on_commit(lambda: enqueue(func, *args, **kwargs))
