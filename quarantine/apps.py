from importlib import import_module
from importlib.util import find_spec

from django.apps import AppConfig
from django.db.models.signals import post_migrate

# modules of this app that add a ninja Router (`router`, its paths from /api/v1/) to the API;
# a module not written yet is skipped
API_MODULES = ("quarantine.api", "quarantine.api_analysis")


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
    from mktops.api import api

    for name in API_MODULES:
        if find_spec(name) is None:
            continue
        router = getattr(import_module(name), "router", None)
        # ready() may run twice in one process (tests that reload apps); a router mounts once
        if router is not None and not any(mounted is router for _, mounted in api._routers):
            api.add_router("/", router)
