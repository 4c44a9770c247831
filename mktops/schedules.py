"""The periodic jobs, registered with django-q2's scheduler.

Feature apps add theirs with `register_schedule` in their AppConfig.ready();
`manage.py setup_schedules` (run by the start command) writes them all.
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


def install() -> list[str]:
    """Create or update a django-q2 Schedule row per registered job; idempotent."""
    from django_q.models import Schedule

    names = []
    for job in registered():
        Schedule.objects.update_or_create(
            name=job.name,
            defaults={"func": job.func, "schedule_type": Schedule.MINUTES, "minutes": job.minutes,
                      "repeats": -1},
        )
        names.append(job.name)
    return names


register_schedule("mktops.purge_expired_events", "mktops.tasks.purge_expired_events", 60)
