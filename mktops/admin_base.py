"""The tenant-scoped admin base every model admin uses.

Scoping `get_queryset` alone leaks through foreign-key choices, filters and
lookups, so each of those is limited to the signed-in user's tenants here too.
Permissions follow roles, not Django's per-model permissions:

- CSM: every tenant; may change what `csm_only` admins hold;
- operator: their tenants; configures everything not `csm_only`;
- customer support: their tenants; views only, never a secret field.
"""

from django.contrib import admin
from django.http import Http404

from mktops import roles
from mktops.models import Role, Tenant


class TenantListFilter(admin.SimpleListFilter):
    """A tenant filter that offers only the user's own tenants."""

    title = "tenant"
    parameter_name = "tenant"

    def __init__(self, request, params, model, model_admin):
        self.tenant_path = model_admin.tenant_path
        super().__init__(request, params, model, model_admin)

    def lookups(self, request, model_admin):
        return [(t.pk, t.name) for t in model_admin.visible_tenants(request)]

    def queryset(self, request, queryset):
        if self.value():
            try:
                tenant_id = int(self.value())
            except ValueError:
                return queryset.none()
            return queryset.filter(**{self.tenant_path: tenant_id})
        return queryset


class TenantScopedAdmin(admin.ModelAdmin):
    # the lookup path from this model to its Tenant
    tenant_path = "tenant"
    # fields never shown to support and never usable as changelist filters
    secret_fields: tuple[str, ...] = ()
    # only CSMs add, change and delete (entitlements, repairs)
    csm_only = False
    # roles that may see this admin at all
    view_roles: tuple[str, ...] = (Role.OPERATOR, Role.SUPPORT, Role.CSM)
    # nobody adds or edits rows of this model in the admin (written by services)
    read_only = False

    # --- scoping ------------------------------------------------------
    def visible_tenants(self, request):
        if roles.is_csm(request.user):
            return Tenant.objects.all()
        return Tenant.objects.filter(pk__in=roles.tenant_ids(request.user))

    def operated_tenants(self, request):
        if roles.is_csm(request.user):
            return Tenant.objects.all()
        return Tenant.objects.filter(pk__in=roles.tenant_ids(request.user, (Role.OPERATOR,)))

    def scope(self, request, queryset):
        if roles.is_csm(request.user):
            return queryset
        return queryset.filter(**{f"{self.tenant_path}__in": roles.tenant_ids(request.user)})

    def get_queryset(self, request):
        return self.scope(request, super().get_queryset(request))

    def tenant_id_of(self, obj) -> int | None:
        value = obj
        for part in self.tenant_path.split("__"):
            if value is None:
                return None
            value = getattr(value, part if part != "id" else "pk")
        return value.pk if isinstance(value, Tenant) else value

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        kwargs["queryset"] = self._scoped_choices(request, db_field, kwargs.get("queryset"))
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        kwargs["queryset"] = self._scoped_choices(request, db_field, kwargs.get("queryset"))
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def _scoped_choices(self, request, db_field, queryset):
        related = db_field.remote_field.model
        queryset = queryset if queryset is not None else related._default_manager.all()
        if related is Tenant:
            # a new row may only be placed in a tenant the user operates
            return queryset.filter(pk__in=self.operated_tenants(request))
        if roles.is_csm(request.user):
            return queryset
        if any(f.name == "tenant" for f in related._meta.get_fields()):
            return queryset.filter(tenant__in=roles.tenant_ids(request.user))
        if any(f.name == "contact" for f in related._meta.get_fields()):
            return queryset.filter(contact__tenant__in=roles.tenant_ids(request.user))
        return queryset

    def get_list_filter(self, request):
        # swap a plain "tenant" filter for one that lists only the user's tenants
        return [TenantListFilter if f == "tenant" else f for f in super().get_list_filter(request)]

    def lookup_allowed(self, lookup, value, request=None):
        if any(lookup == s or lookup.startswith(f"{s}__") for s in self.secret_fields):
            return False
        if lookup.startswith(f"{self.tenant_path}__") and lookup.split("__")[-1] not in (
            "id", "exact", "slug", "in"
        ):
            return False
        return super().lookup_allowed(lookup, value, request)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self.scope(request, queryset), may_have_duplicates

    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # another tenant's object must be indistinguishable from a missing one
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if not self._may_see_secrets(request, obj):
            excluded += [f for f in self.secret_fields if f not in excluded]
        return excluded

    def get_fields(self, request, obj=None):
        fields = super().get_fields(request, obj)
        if self._may_see_secrets(request, obj):
            return fields
        return [f for f in fields if f not in self.secret_fields]

    def get_list_display(self, request):
        return [f for f in super().get_list_display(request) if f not in self.secret_fields]

    def _may_see_secrets(self, request, obj) -> bool:
        if obj is None:
            return roles.operates_any(request.user)
        return roles.is_operator_of(request.user, self.tenant_id_of(obj))

    # --- permissions by role ----------------------------------------------
    def _role_allows_view(self, request) -> bool:
        user = request.user
        if roles.is_csm(user):
            return Role.CSM in self.view_roles
        return any(
            roles.tenant_ids(user, (role,)) for role in self.view_roles if role != Role.CSM
        )

    def has_module_permission(self, request):
        return self._role_allows_view(request)

    def has_view_permission(self, request, obj=None):
        if not self._role_allows_view(request):
            return False
        return obj is None or roles.role_for(request.user, self.tenant_id_of(obj)) in self.view_roles

    def _may_write(self, request, obj=None) -> bool:
        if self.read_only:
            return False
        user = request.user
        if self.csm_only:
            return roles.is_csm(user)
        if obj is None:
            return roles.operates_any(user)
        return roles.is_operator_of(user, self.tenant_id_of(obj))

    def has_add_permission(self, request, *args):
        return self._may_write(request)

    def has_change_permission(self, request, obj=None):
        return self._may_write(request, obj)

    def has_delete_permission(self, request, obj=None):
        return self._may_write(request, obj)


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

