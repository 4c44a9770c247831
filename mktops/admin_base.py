"""The tenant-scoped admin base every model admin uses.

Scoping `get_queryset` alone leaks through foreign-key choices, filters and
lookups, so each of those is limited to the signed-in user's tenants here too.
Permissions follow roles, not Django's per-model permissions:

- CSM: every tenant; may change what `csm_only` admins hold;
- operator: their tenants; configures everything not `csm_only`;
- customer support: their tenants; views only, never a secret field.
"""

import functools

from django.contrib import admin
from django.contrib.admin.exceptions import DisallowedModelAdminToField
from django.contrib.admin.options import TO_FIELD_VAR
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed

from mktops import roles
from mktops.models import Role, Tenant

# what a page or action on one object asks of the user, for that object's tenant
VIEW = "view"      # anyone who may see the object (support included)
CHANGE = "change"  # whoever may change it: its tenant's operators, CSMs (unless the admin is read-only)
CSM = "csm"        # platform staff only (repairs)


def to_field_checked(model_admin, request) -> str | None:
    """The `_to_field` parameter, refused with a 400 unless Django would accept it.

    Django checks it in its change and delete views only, after our object
    lookup has run with it; an unknown or non-unique field then failed as a 500.
    """
    to_field = request.POST.get(TO_FIELD_VAR, request.GET.get(TO_FIELD_VAR))
    if to_field and not model_admin.to_field_allowed(request, to_field):
        raise DisallowedModelAdminToField(f"The field {to_field} cannot be referenced.")
    return to_field


def object_view(*, level: str, post_only: bool = False):
    """Make a TenantScopedAdmin method `(self, request, obj, ...)` the view at `<object_id>/…`.

    The object comes from `object_for` (403 / 404 / 403 in that order); a GET
    to a POST-only action is then answered 405, never run.
    """
    def decorate(method):
        @functools.wraps(method)
        def view(self, request, object_id, *args, **kwargs):
            obj = self.object_for(request, object_id, level=level)
            if post_only and request.method != "POST":
                return HttpResponseNotAllowed(["POST"])
            return method(self, request, obj, *args, **kwargs)
        return view
    return decorate


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
        # the value was checked against the user's tenants in lookup_allowed
        if self.value():
            return queryset.filter(**{self.tenant_path: int(self.value())})
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
        """Choices for a related field: only rows of tenants the user may write to."""
        related = db_field.remote_field.model
        queryset = queryset if queryset is not None else related._default_manager.all()
        if related is Tenant:
            # a new row may only be placed in a tenant the user operates
            return queryset.filter(pk__in=self.operated_tenants(request))
        if roles.is_csm(request.user):
            return queryset
        operated = roles.tenant_ids(request.user, (Role.OPERATOR,))
        related_admin = self.admin_site._registry.get(related)
        if isinstance(related_admin, TenantScopedAdmin):
            return queryset.filter(**{f"{related_admin.tenant_path}__in": operated})
        names = {f.name for f in related._meta.get_fields()}
        if "tenant" in names:
            return queryset.filter(tenant__in=operated)
        if "contact" in names:
            return queryset.filter(contact__tenant__in=operated)
        return queryset

    def get_list_filter(self, request):
        # swap a plain "tenant" filter for one that lists only the user's tenants
        return [TenantListFilter if f == "tenant" else f for f in super().get_list_filter(request)]

    def get_search_fields(self, request):
        # secret columns hold ciphertext: searching them finds nothing and would
        # only tell an attacker the column exists
        return [f for f in super().get_search_fields(request) if f.lstrip("=^@") not in self.secret_fields]

    def lookup_allowed(self, lookup, value, request=None):
        if any(lookup == s or lookup.startswith(f"{s}__") for s in self.secret_fields):
            return False
        tenant_rule = self._tenant_lookup_allowed(lookup, value, request)
        if tenant_rule is not None:
            return tenant_rule
        return super().lookup_allowed(lookup, value, request)

    def _tenant_lookup_allowed(self, lookup, value, request) -> bool | None:
        """None when `lookup` does not go through the tenant; else whether to allow it.

        Filtering on a tenant the user does not belong to is refused outright
        (a 400 from the changelist), not answered with an empty page.
        """
        path = self.tenant_path
        if lookup != TenantListFilter.parameter_name and lookup != path and not lookup.startswith(f"{path}__"):
            return None
        last = lookup.split("__")[-1]
        if lookup not in (TenantListFilter.parameter_name, path) and last not in ("id", "pk", "exact", "slug", "in"):
            return False
        if request is None or roles.is_csm(request.user):
            return True
        values = str(value).split(",") if last == "in" else [str(value)]
        visible = self.visible_tenants(request)
        allowed = {str(pk) for pk in visible.values_list("pk", flat=True)}
        if last == "slug":
            allowed = set(visible.values_list("slug", flat=True))
        return all(v in allowed for v in values)

    def get_search_results(self, request, queryset, search_term):
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        return self.scope(request, queryset), may_have_duplicates

    # --- object views: another tenant's object is a 404, whatever the method
    def _get_obj_does_not_exist_redirect(self, request, opts, object_id):
        # another tenant's object must be indistinguishable from a missing one
        raise Http404(f"No {opts.verbose_name} with id {object_id!r}.")

    def object_for(self, request, object_id, *, level: str = VIEW):
        """The object a page or action is about, after checks in an order that leaks nothing.

        A user who may not use this admin at all gets 403 whatever the id. Anyone
        else gets 404 for an object outside their tenants, before any permission
        check: Django checks permissions first, so a POST to another tenant's
        read-only object would answer 403 and confirm that the object exists.
        Only then is `level` (VIEW, CHANGE or CSM) required: 403 when not met.
        """
        to_field = to_field_checked(self, request)
        if not self.has_module_permission(request):
            raise PermissionDenied
        obj = self.get_object(request, unquote(object_id), to_field)
        if obj is None:
            self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        self.require_level(request, obj, level)
        return obj

    def require_level(self, request, obj, level: str) -> None:
        allowed = {
            VIEW: self.has_view_permission,
            CHANGE: self.has_change_permission,
            CSM: lambda request, obj: roles.is_csm(request.user),
        }[level](request, obj)
        if not allowed:
            raise PermissionDenied

    # Django then checks the change, delete or history permission itself
    def change_view(self, request, object_id, form_url="", extra_context=None):
        self.object_for(request, object_id, level=VIEW)
        return super().change_view(request, object_id, form_url, extra_context)

    def delete_view(self, request, object_id, extra_context=None):
        self.object_for(request, object_id, level=VIEW)
        return super().delete_view(request, object_id, extra_context)

    def history_view(self, request, object_id, extra_context=None):
        self.object_for(request, object_id, level=VIEW)
        return super().history_view(request, object_id, extra_context)

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

    def get_fieldsets(self, request, obj=None):
        # declared fieldsets bypass get_fields, and a view-only user sees every
        # field read-only, which would print the decrypted secret
        fieldsets = super().get_fieldsets(request, obj)
        if self._may_see_secrets(request, obj):
            return fieldsets
        return [(name, {**options, "fields": self._without_secrets(options["fields"])})
                for name, options in fieldsets]

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        if self._may_see_secrets(request, obj):
            return fields
        return [f for f in fields if f not in self.secret_fields]

    def _without_secrets(self, fields):
        kept = []
        for item in fields:
            if isinstance(item, list | tuple):  # several fields on one line
                row = tuple(f for f in item if f not in self.secret_fields)
                if row:
                    kept.append(row)
            elif item not in self.secret_fields:
                kept.append(item)
        return kept

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
    """Rows shown on their parent's page to whoever may view the parent.

    Django would ask for the model's own view permission, which our roles do
    not grant through Django permissions, and hide the inline from everyone but
    superusers.
    """

    extra = 0
    can_delete = False

    def has_view_permission(self, request, obj=None):
        return True

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

