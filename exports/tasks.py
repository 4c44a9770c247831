"""What django-q2 executes. Thin: the rows own the state, the services do the work."""

from exports.services import runs, schedule


def exports_sweep() -> list[int]:
    """Periodic: create the runs due per schedule and enqueue every due run."""
    return schedule.exports_sweep()


def export_run(run_id: int):
    """One attempt at one run."""
    return runs.run_execute(run_id=run_id)
