from django.contrib import admin, messages

from mktops.roles import has_any_role, is_csm

MSG_SCHEDULES_MISSING = ("Periodic jobs are not scheduled as the apps register them: {names}. Nothing is "
                         "exported, swept or purged until they are: run manage.py migrate or "
                         "manage.py setup_schedules (system check mktops.W005).")


# app_label -> fn(request) -> the menu name of that app for this user, or None for its own name:
# a feature names its menu entry after the tenant (channels: "Customer management" for service
# providers) without the core importing it
_app_menu_names = {}


def register_app_menu_name(app_label: str, fn) -> None:
    _app_menu_names[app_label] = fn


class MktopsAdminSite(admin.AdminSite):
    site_header = "mktops"
    site_title = "mktops"
    index_title = "Marketing operations console"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and has_any_role(user)

    def get_app_list(self, request, app_label=None):
        app_list = super().get_app_list(request, app_label)
        for app in app_list:
            name_for = _app_menu_names.get(app["app_label"])
            name = name_for(request) if name_for else None
            if name:
                app["name"] = name
        return app_list

    def index(self, request, extra_context=None):
        # CSMs run the platform: they are the ones told when the periodic jobs are not installed
        if is_csm(request.user):
            from mktops import schedules

            missing = schedules.not_installed()
            if missing:
                messages.warning(request, MSG_SCHEDULES_MISSING.format(names=", ".join(missing)))
        return super().index(request, extra_context)
