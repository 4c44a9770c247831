"""The periodic jobs, registered with django-q2's scheduler.

Feature apps add theirs with `register_schedule` in their AppConfig.ready(). `migrate` writes
them all (post_migrate, `install_after_migrate`), so does `manage.py setup_schedules`; the system
check mktops.W005 and a warning on the admin index say when one is missing or differs.

django-q2's `catch_up` is off (mktops/settings.py Q_CLUSTER): after downtime it would run every
missed slot; our sweepers pick up whatever is due in one run.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    func: str
    minutes: int


_jobs: dict[str, PeriodicJob] = {}


def register_schedule(name: str, func: str, minutes: int) -> None:
    _jobs[name] = PeriodicJob(name, func, minutes)


def registered() -> list[PeriodicJob]:
    return list(_jobs.values())


def _wanted(job: PeriodicJob) -> dict:
    from django_q.models import Schedule

    return {"func": job.func, "schedule_type": Schedule.MINUTES, "minutes": job.minutes, "repeats": -1}


def install(*, using: str = "default") -> list[str]:
    """Create or update a django-q2 Schedule row per registered job; idempotent."""
    from django_q.models import Schedule

    names = []
    for job in registered():
        Schedule.objects.using(using).update_or_create(name=job.name, defaults=_wanted(job))
        names.append(job.name)
    return names


def not_installed(*, using: str = "default") -> list[str]:
    """Names of the registered jobs whose schedule is missing or differs from what the app registers."""
    from django_q.models import Schedule

    rows = {s.name: s for s in Schedule.objects.using(using).filter(name__in=[j.name for j in registered()])}
    return [job.name for job in registered() if job.name not in rows
            or any(getattr(rows[job.name], field) != value for field, value in _wanted(job).items())]


def installable(using: str = "default") -> bool:
    """django-q2's table exists (not so before its migration, or after `migrate <one app>`)."""
    from django.db import connections
    from django_q.models import Schedule

    return Schedule._meta.db_table in connections[using].introspection.table_names()


def install_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate receiver, connected for mktops' app only: Django sends post_migrate once per app
    after every migration of the run has been applied (and after a test database's flush), so this
    runs once, with every app's tables in place."""
    if installable(using):
        install(using=using)


register_schedule("mktops.purge_expired_events", "mktops.tasks.purge_expired_events", 60)
