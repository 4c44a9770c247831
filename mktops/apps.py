from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig


class MktopsConfig(AppConfig):
    name = "mktops"
    verbose_name = "mktops"

    def ready(self):
        from mktops import checks, schedules  # noqa: F401 - registers checks and schedules


class MktopsAdminConfig(AdminConfig):
    """django.contrib.admin with mktops' own site as the default site."""

    default_site = "mktops.admin_site.MktopsAdminSite"
