"""S3 exports in the admin: operators configure, support reads, CSMs see all and the usage.

Thin: forms parse, services decide (exports.services), templates render.
"""

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.views.decorators.debug import sensitive_post_parameters

from exports.models import ExportConnection, ExportConnectionUsage, ExportRun, ExportUsage
from exports.regions import region_label
from exports.services import connections, paths, rules
from exports.services import retention as export_retention
from mktops import clock, retention, roles
from mktops.admin_base import CHANGE, VIEW, TenantScopedAdmin, object_view
from mktops.admin_catalogue import CatalogueAutocomplete, CatalogueNamesField, catalogue_page
from mktops.forms import forget_posted
from mktops.models import EventName, Role, UserAttributeName

RECENT_RUNS = 20
MSG_FIX_FIRST = "Nothing was tested: fix the fields marked below first."


# the catalogue a picker of the form draws from, by the endpoint's <kind>
CATALOGUES = {"event_names": EventName, "user_attributes": UserAttributeName}
DEVICE_CATALOGUE = "device_attributes"  # no model: names sampled from the tenant's latest events


PRIVATE_KEY_MARK = "PRIVATE KEY"  # in the armor line of any PGP or SSH private key


class ConnectionForm(forms.ModelForm):
    # autocomplete, never the whole catalogue: a tenant can send tens of thousands of names
    event_names = CatalogueNamesField(
        label="Selected events", required=False, widget=CatalogueAutocomplete(placeholder="Type an event name"),
        help_text="Used when “export all events” is off. Type to find the tenant's event names.")
    user_attributes = CatalogueNamesField(
        label="User attributes", required=False,
        widget=CatalogueAutocomplete(placeholder="Type a user attribute name"),
        help_text="Exported with each event, together with user_id. Type to find the tenant's attribute names.")
    device_attributes = CatalogueNamesField(
        label="Device attributes", required=False,
        widget=CatalogueAutocomplete(placeholder="Type a device attribute name"),
        help_text="Exported with each event in device_attributes. None chosen: all the event has. "
                  "Type to find the names in the tenant's latest events.")

    class Meta:
        model = ExportConnection
        fields = ("tenant", "name", "bucket", "folder_path", "region", "all_events", "event_names",
                  "user_attributes", "device_attributes", "frequency", "encryption", "pgp_public_key", "kms_key_arn")
        help_texts = {"frequency": connections.FREQUENCY_HELP}
        widgets = {"pgp_public_key": forms.Textarea(attrs={"rows": 8, "cols": 70, "class": "vLargeTextField",
                                                           "style": "font-family: monospace"})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for kind in (*CATALOGUES, DEVICE_CATALOGUE):
            widget = self.fields[kind].widget
            # the connection's tenant once it exists; on an add form, the tenant select's value
            widget.url = reverse("admin:exports_exportconnection_catalogue", args=[kind])
            widget.tenant = self.instance.tenant_id

    def _get_validation_exclusions(self):
        # the (tenant, name) constraint is the service's rule (rules.ERR_NAME_TAKEN): said once, in its
        # words, not a second time by the model's constraint
        return {*super()._get_validation_exclusions(), "name"}

    def _post_clean(self):
        super()._post_clean()
        if self.instance.tenant_id is not None:
            try:
                rules.connection_validate(connection=self.instance)
            except ValidationError as exc:
                self._update_errors(exc)
        # a refused key is not sent back: it may be a private key pasted by mistake
        if "pgp_public_key" in self.errors or PRIVATE_KEY_MARK in (self.data.get(self.add_prefix("pgp_public_key"))
                                                                   or ""):
            forget_posted(self, "pgp_public_key")


class ReexportForm(forms.Form):
    date_from = forms.DateField(label="First day (UTC)", widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label="Last day (UTC)", widget=forms.DateInput(attrs={"type": "date"}))


def utc(moment) -> str:
    """Every date on these pages in one format, with its zone."""
    return f"{moment:%Y-%m-%d %H:%M} UTC" if moment else "—"


HEALTH_LABELS = {"ok": "Healthy", "waiting": "Waiting for the first file", "lagging": "Behind schedule",
                 "failing": "Failing", "paused": "Paused", "not_entitled": "Not enabled", "test_failed": "Test failed"}


def _pretty(data) -> str:
    return json.dumps(data, indent=2) if data else ""


@admin.register(ExportConnection)
class ExportConnectionAdmin(TenantScopedAdmin):
    form = ConnectionForm
    list_display = ("connection_name", "tenant", "bucket_and_region", "frequency_short", "encryption_short", "state",
                    "last_file_short")
    list_display_links = ("connection_name",)
    list_filter = ("tenant", "frequency", "encryption", "paused")
    list_select_related = ("tenant",)
    search_fields = ("name", "bucket")
    readonly_fields = ("pgp_fingerprint", "pgp_algorithm", "key_expires", "paused", "paused_reason", "next_run",
                       "last_success", "last_file")
    fieldsets = (
        (None, {"fields": ("tenant", "name", "bucket", "folder_path", "region", "kms_key_arn")}),
        ("What is exported, and when", {"fields": ("all_events", "event_names", "user_attributes",
                                                    "device_attributes", "frequency")}),
        ("File encryption", {"fields": ("encryption", "pgp_public_key", "pgp_fingerprint", "pgp_algorithm",
                                        "key_expires")}),
    )
    status_fieldset = ("Status", {"fields": ("paused", "paused_reason", "next_run", "last_success", "last_file")})
    change_form_template = "admin/exports/exportconnection/change_form.html"

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets + ((self.status_fieldset,) if obj else ())

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields + (("tenant",) if obj else ())

    def get_changeform_initial_data(self, request):
        initial = super().get_changeform_initial_data(request)
        tenants = list(self.operated_tenants(request)[:2])
        if len(tenants) == 1:
            initial.setdefault("tenant", tenants[0].pk)
        return initial

    def get_list_display(self, request):
        # the tenant column only for whoever sees several (CSMs): the list fits a 1400-pixel screen
        shown = super().get_list_display(request)
        if roles.is_csm(request.user) or self.visible_tenants(request)[:2].count() > 1:
            return shown
        return tuple(f for f in shown if f != "tenant")

    @admin.display(description="bucket (region)", ordering="bucket")
    def bucket_and_region(self, obj):
        return format_html('{} <small title="{}">({})</small>', obj.bucket, region_label(obj.region), obj.region)

    @admin.display(description="name", ordering="name")
    def connection_name(self, obj):
        return obj.name

    @admin.display(description="frequency", ordering="frequency")
    def frequency_short(self, obj):
        return {"15min": "15 min", "daily": "Daily", "weekly": "Weekly"}.get(obj.frequency, obj.frequency)

    @admin.display(description="last file", ordering="last_file_at")
    def last_file_short(self, obj):
        return utc(obj.last_file_at)

    @admin.display(description="encryption", ordering="encryption")
    def encryption_short(self, obj):
        return "PGP" if obj.encrypted else "Off"

    @admin.display(description="health")
    def state(self, obj):
        health = connections.connection_health(connection=obj)
        return format_html('<span title="{}">{}</span>', health.text, HEALTH_LABELS.get(health.state, health.state))

    @admin.display(description="last file written", ordering="last_file_at")
    def last_file(self, obj):
        return utc(obj.last_file_at)

    @admin.display(description="next run")
    def next_run(self, obj):
        return utc(obj.next_run_at)

    @admin.display(description="last run finished")
    def last_success(self, obj):
        return utc(obj.last_success_at)

    @admin.display(description="key expires")
    def key_expires(self, obj):
        return utc(obj.pgp_expires_at) if obj.pgp_expires_at else "never" if obj.pgp_fingerprint else "—"

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        # the path with the form's values (the page's script updates it as the operator types)
        instance = context["adminform"].form.instance
        preview = ExportConnection(bucket=instance.bucket or "<bucket>", folder_path=instance.folder_path or "",
                                   name=instance.name or "<connection_name>", encryption=instance.encryption)
        context["preview_uri"] = paths.example_uri(preview, clock.now())
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- saving and deleting go through the services ----------------------------
    def save_model(self, request, obj, form, change):
        frequency_changed = change and "frequency" in form.changed_data
        connections.connection_save(connection=obj, by=request.user, frequency_changed=frequency_changed)
        if frequency_changed:
            self.message_user(request, connections.MSG_FREQUENCY_CHANGED.format(
                frequency=obj.get_frequency_display(), next=obj.next_run_at,
                uri=paths.example_uri(obj, clock.now()).rsplit("/", 2)[0] + "/…"), messages.WARNING)

    def delete_model(self, request, obj):
        connections.connection_delete(connection=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            connections.connection_delete(connection=obj, by=request.user)

    # --- pages --------------------------------------------------------------
    def _warn_unentitled(self, request, tenants) -> None:
        for tenant in tenants:
            if not tenant.s3_export_enabled:
                messages.warning(request, f"S3 export is not enabled for {tenant.name}: connections can be set "
                                          "up and tested, but no file is sent until a CSM switches it on.")

    def _warn_expiring_keys(self, request, tenants) -> None:
        for connection in connections.connections_with_expiring_keys(tenant_ids=[t.pk for t in tenants]):
            warning = connections.key_expiry_warning(connection=connection)
            if warning:
                messages.warning(request, f"“{connection.name}”: {warning}")

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not roles.is_csm(request.user):
            self._warn_unentitled(request, self.visible_tenants(request))
            self._warn_expiring_keys(request, self.operated_tenants(request))
        return super().changelist_view(request, extra_context)

    @method_decorator(sensitive_post_parameters("pgp_public_key"))  # a private key pasted by mistake
    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return super().changeform_view(request, object_id, form_url, extra_context)

    def add_view(self, request, form_url="", extra_context=None):
        if request.method == "GET":
            self._warn_unentitled(request, self.operated_tenants(request) if not roles.is_csm(request.user) else [])
        return super().add_view(request, form_url, extra_context)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.object_for(request, object_id, level=VIEW)
        extra = dict(extra_context or {})
        if request.method == "GET":
            self._warn_unentitled(request, [obj.tenant])
            extra.update(self.status_context(request, obj))
        return super().change_view(request, object_id, form_url, extra)

    def status_context(self, request, obj) -> dict:
        now = clock.now()
        runs = list(obj.runs.order_by("-id")[:RECENT_RUNS])
        return {
            "health": connections.connection_health(connection=obj, now=now),
            "key_warning": connections.key_expiry_warning(connection=obj, now=now),
            # events past retention kept only because this connection has not exported them yet
            "retention_note": retention.hold_note(obj.tenant, export_retention.connection_hold(obj, obj.tenant, now),
                                                  now=now),
            "example_uri": paths.example_uri(obj, now),
            "bucket_policy": _pretty(paths.connection_bucket_policy(obj)),
            "kms_policy": _pretty(paths.connection_kms_policy(obj)),
            "recent_runs": runs,
            "runs_url": reverse("admin:exports_exportrun_changelist") + f"?connection={obj.pk}",
            "may_operate": self.has_change_permission(request, obj),
            "frequency_slots": connections.frequency_change_preview(connection=obj, now=now),
            "usage": list(obj.usage.order_by("-month")[:3]) if roles.is_csm(request.user) else [],
            "connection": obj,
        }

    # --- actions on one connection ----------------------------------------------
    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        view = self.admin_site.admin_view
        return [
            path("catalogue/<str:kind>/", view(self.catalogue_view), name=f"{name}_catalogue"),
            path("test-unsaved/", view(self.test_unsaved_view), name=f"{name}_test_unsaved"),
            path("<path:object_id>/test/", view(self.test_view), name=f"{name}_test"),
            path("<path:object_id>/pause/", view(self.pause_view), name=f"{name}_pause"),
            path("<path:object_id>/run-now/", view(self.run_now_view), name=f"{name}_run_now"),
            path("<path:object_id>/resume/", view(self.resume_view), name=f"{name}_resume"),
            path("<path:object_id>/reexport/", view(self.reexport_view), name=f"{name}_reexport"),
            *super().get_urls(),
        ]

    def _back(self, obj):
        return HttpResponseRedirect(reverse("admin:exports_exportconnection_change", args=[obj.pk]))

    def catalogue_view(self, request, kind):
        """The pickers' names: only of `?tenant=`, and only for whoever may configure its exports
        (404 for a tenant outside the user's, 403 for support: it picks nothing)."""
        model = CATALOGUES.get(kind)
        tenant = request.GET.get("tenant", "")
        if (model is None and kind != DEVICE_CATALOGUE) or not tenant.isdigit() or \
                not self.visible_tenants(request).filter(pk=tenant).exists():
            raise Http404("No such catalogue.")
        if not roles.is_operator_of(request.user, int(tenant)):
            raise PermissionDenied
        if model is None:
            names = rules.device_attribute_suggestions(tenant_id=int(tenant), term=request.GET.get("term", "").strip())
            return JsonResponse({"results": [{"id": n, "text": n} for n in names], "pagination": {"more": False}})
        return catalogue_page(request, model.objects.filter(tenant_id=tenant))

    @method_decorator(sensitive_post_parameters("pgp_public_key"))
    def test_unsaved_view(self, request):
        """Test connection from the add form, before saving: the form's rules, then the same probe as
        on a saved connection (and the same per-tenant limit). Nothing is saved; JSON for the page's script."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = self.get_form(request, None, change=False)(request.POST)
        if not form.is_valid():
            errors = {field: [str(e) for e in errs] for field, errs in form.errors.items()}
            return JsonResponse({"ok": False, "message": MSG_FIX_FIRST, "errors": errors})
        result = connections.connection_test(connection=form.instance, by=request.user)
        return JsonResponse({"ok": result.ok, "message": result.message, "errors": {}})

    @object_view(level=CHANGE, post_only=True)
    def test_view(self, request, obj):
        result = connections.connection_test(connection=obj, by=request.user)
        self.log_change(request, obj, f"Connection test: {result.message}")
        self.message_user(request, result.message, messages.SUCCESS if result.ok else messages.ERROR)
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def run_now_view(self, request, obj):
        try:
            message = connections.connection_run_now(connection=obj, by=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        else:
            self.log_change(request, obj, message)
            self.message_user(request, message, messages.SUCCESS)
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def pause_view(self, request, obj):
        connections.connection_pause(connection=obj, by=request.user)
        self.log_change(request, obj, "Paused")
        self.message_user(request, "Paused: no file is sent until the connection is resumed.")
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def resume_view(self, request, obj):
        try:
            connections.connection_resume(connection=obj, by=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(obj)
        self.log_change(request, obj, "Resumed")
        self.message_user(request, "Resumed: the events received meanwhile go in the next file.")
        return self._back(obj)

    @object_view(level=CHANGE)
    def reexport_view(self, request, obj):
        form = ReexportForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                runs = connections.connection_reexport(connection=obj, date_from=form.cleaned_data["date_from"],
                                                       date_to=form.cleaned_data["date_to"], by=request.user)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                ids = ", ".join(str(run.pk) for run in runs)
                self.log_change(request, obj, f"Re-export of {form.cleaned_data['date_from']} to "
                                              f"{form.cleaned_data['date_to']} queued (run {ids}).")
                files = f"{len(runs)} files, the first" if len(runs) > 1 else "it"
                self.message_user(request, f"Re-export queued: {files} will be written to {runs[0].object_key}.")
                return self._back(obj)
        context = {**self.admin_site.each_context(request), "opts": self.opts, "original": obj, "form": form,
                   "title": f"Re-export events of {obj.name}", "has_view_permission": True,
                   "backfill_prefix": paths.connection_prefix(obj, backfill=True)}
        return TemplateResponse(request, "admin/exports/exportconnection/reexport.html", context)


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


class ConnectionFilter(admin.SimpleListFilter):
    """Runs of one connection: only the connections of the user's tenants are offered."""

    title = "connection"
    parameter_name = "connection"

    def lookups(self, request, model_admin):
        return [(c.pk, f"{c.name} ({c.tenant.name})" if roles.is_csm(request.user) else c.name)
                for c in model_admin.scope(request, ExportConnection.objects.select_related("tenant"))]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(connection_id=int(value)) if value and value.isdigit() else queryset


@admin.register(ExportRun)
class ExportRunAdmin(TenantScopedAdmin):
    read_only = True
    # six columns, file and error wrapped in the last: the list fits a 1400-pixel screen
    list_display = ("id", "connection", "run_status", "window", "event_count", "file_and_error")
    list_filter = (ConnectionFilter, "status", "kind", "tenant")
    list_select_related = ("connection", "tenant")
    show_full_result_count = False
    actions = ["retry_now"]
    fields = ("connection", "tenant", "kind", "status", "window", "attempts", "next_attempt", "first_attempt",
              "last_attempt", "finished", "event_count", "bytes_uncompressed", "bytes_compressed", "object_size",
              "object_key", "sha256", "duration", "last_error", "requested_by")
    readonly_fields = fields

    @admin.display(description="window (UTC)")
    def window(self, obj):
        by = " (re-export, by event time)" if obj.by_event_time else ""
        end = f"{obj.window_end:%H:%M}" if obj.window_end.date() == obj.window_start.date() else \
            f"{obj.window_end:%Y-%m-%d %H:%M}"
        return f"{obj.window_start:%Y-%m-%d %H:%M} → {end}{by}"

    @admin.display(description="status", ordering="status")
    def run_status(self, obj):
        attempts = f", attempt {obj.attempts}" if obj.attempts > 1 else ""
        then = f"; next {utc(obj.next_attempt_at)}" if obj.status == "retrying" else ""
        return f"{obj.get_status_display()} ({obj.get_kind_display().lower()}{attempts}){then}"

    @admin.display(description="file, error", ordering="object_key")
    def file_and_error(self, obj):
        return format_html('<code style="word-break: break-all">{}</code>{}', obj.object_key or "—",
                           format_html('<div style="white-space: normal">{}</div>', obj.last_error)
                           if obj.last_error else "")

    @admin.display(description="next attempt")
    def next_attempt(self, obj):
        return utc(obj.next_attempt_at)

    @admin.display(description="first attempt")
    def first_attempt(self, obj):
        return utc(obj.first_attempt_at)

    @admin.display(description="last attempt")
    def last_attempt(self, obj):
        return utc(obj.last_attempt_at)

    @admin.display(description="finished")
    def finished(self, obj):
        return utc(obj.finished_at)

    @admin.display(description="duration")
    def duration(self, obj):
        return f"{obj.duration_seconds:.1f} s" if obj.duration_seconds is not None else ""

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.operates_any(request.user):
            actions.pop("retry_now", None)
        return actions

    @admin.action(description="Retry the selected runs now")
    def retry_now(self, request, queryset):
        count = 0
        for run in queryset.select_related("tenant"):
            if roles.is_operator_of(request.user, run.tenant_id) and connections.run_retry_now(run=run,
                                                                                               by=request.user):
                self.log_change(request, run, "Retry now requested.")
                count += 1
        self.message_user(request, f"{count} run(s) will be retried now.")


@admin.register(ExportUsage)
class ExportUsageAdmin(TenantScopedAdmin):
    read_only = True
    view_roles = (Role.CSM,)
    list_display = ("month_name", "tenant", "events", "size", "files")
    list_filter = ("tenant",)
    list_select_related = ("tenant",)

    @admin.display(description="month", ordering="month")
    def month_name(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description="bytes exported", ordering="bytes")
    def size(self, obj):
        return format_html("{} <small>({} bytes)</small>", filesizeformat(obj.bytes), obj.bytes)


@admin.register(ExportConnectionUsage)
class ExportConnectionUsageAdmin(TenantScopedAdmin):
    """What the CSM bills, per connection; a deleted connection's months stay, under its name."""

    read_only = True
    view_roles = (Role.CSM,)
    list_display = ("month_name", "tenant", "connection_name", "events", "size", "files")
    list_filter = ("tenant", "month")
    list_select_related = ("tenant",)
    search_fields = ("connection_name",)

    @admin.display(description="month", ordering="month")
    def month_name(self, obj):
        return f"{obj.month:%Y-%m}"

    @admin.display(description="bytes exported", ordering="bytes")
    def size(self, obj):
        return format_html("{} <small>({} bytes)</small>", filesizeformat(obj.bytes), obj.bytes)
