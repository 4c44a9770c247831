from django.contrib import admin

from mktops.roles import has_any_role


class MktopsAdminSite(admin.AdminSite):
    site_header = "mktops"
    site_title = "mktops"
    index_title = "Marketing operations console"

    def has_permission(self, request):
        user = request.user
        return user.is_active and user.is_staff and has_any_role(user)
