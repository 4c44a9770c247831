from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class MktopsConfig(AppConfig):
    name = "mktops"
    verbose_name = "mktops"

    def ready(self):
        # registers checks, schedules and the sign-in lockout's audit receiver
        from mktops import checks, schedules, throttle  # noqa: F401


class MktopsAdminConfig(AdminConfig):
    """django.contrib.admin with mktops' own site as the default site."""

    default_site = "mktops.admin_site.MktopsAdminSite"
