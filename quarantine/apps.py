from django.apps import AppConfig
from django.db.models.signals import post_migrate


class QuarantineConfig(AppConfig):
    name = "quarantine"
    verbose_name = "Quarantine"

    def ready(self):
        from mktops.schedules import register_schedule
        from quarantine import qualification

        register_schedule("quarantine.daily_cleanup", "quarantine.tasks.daily_cleanup", 24 * 60)
        post_migrate.connect(qualification.install_after_migrate, sender=self,
                             dispatch_uid="quarantine.install_shipped_rules")
        _add_routers()
        from mktops.demo import register_demo_seeder
        from quarantine import (
            admin_reports,  # noqa: F401 - analysis admin, profile panel, contact filter
            demo,
        )

        register_demo_seeder(demo.seed)


def _add_routers() -> None:
    """The delivery-reports and analysis routes, under /api/v1/ like the events API."""
    from mktops.api import api
    from quarantine import api as reports_api
    from quarantine import api_analysis

    for router in (reports_api.router, api_analysis.router):
        # ready() may run twice in one process (tests that reload apps); a router mounts once
        if not any(mounted is router for _, mounted in api._routers):
            api.add_router("/", router)
