from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.db.models.signals import post_migrate


class MktopsConfig(AppConfig):
    name = "mktops"
    verbose_name = "mktops"

    def ready(self):
        # registers checks, schedules and the sign-in lockout's audit receiver
        from django.db.models import Field
        from django_q.signals import post_spawn

        from mktops import checks, schedules, throttle  # noqa: F401
        from mktops.fastwrite import OneOf

        Field.register_lookup(OneOf)

        post_spawn.connect(_worker_spawned, dispatch_uid="mktops.heartbeat")
        post_migrate.connect(schedules.install_after_migrate, sender=self, dispatch_uid="mktops.schedules")


def _worker_spawned(sender, **kwargs):
    """Each django-q2 worker process says it is alive while it lives (mktops.jobs.heartbeat_start)."""
    from mktops.jobs import heartbeat_start

    heartbeat_start()


class MktopsAdminConfig(AdminConfig):
    """django.contrib.admin with mktops' own site as the default site."""

    default_site = "mktops.admin_site.MktopsAdminSite"
