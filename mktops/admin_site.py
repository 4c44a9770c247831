from django.contrib import admin, messages

from mktops.roles import has_any_role, is_csm

MSG_SCHEDULES_MISSING = ("Periodic jobs are not scheduled as the apps register them: {names}. Nothing is "
                         "exported, swept or purged until they are: run manage.py migrate or "
                         "manage.py setup_schedules (system check mktops.W005).")


class MktopsAdminSite(admin.AdminSite):
    site_header = "mktops"
    site_title = "mktops"
    index_title = "Marketing operations console"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and has_any_role(user)

    def index(self, request, extra_context=None):
        # CSMs run the platform: they are the ones told when the periodic jobs are not installed
        if is_csm(request.user):
            from mktops import schedules

            missing = schedules.not_installed()
            if missing:
                messages.warning(request, MSG_SCHEDULES_MISSING.format(names=", ".join(missing)))
        return super().index(request, extra_context)
