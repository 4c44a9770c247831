"""Quarantine admin pages: the quarantine list and entry pages (evidence, set Valid after a warning,
allowlist, denylist, add by hand, CSV import and export, the soft-error threshold with its preview),
and the qualification tables. Thin: parse, check the role, call quarantine.manual / csv_io, render.

Operators change their tenants' entries, support reads them, CSMs see every tenant and edit the
platform's email and push qualification tables."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from mktops import roles
from mktops.admin_base import CHANGE, VIEW, TenantScopedAdmin, object_view
from mktops.models import Tenant
from mktops.services import audit_log_write
from quarantine import csv_io, manual
from quarantine.addresses import normalise
from quarantine.models import (
    EmailQualificationRule,
    ErrorReason,
    ErrorType,
    PushQualificationRule,
    QuarantineEntry,
    SmscConfig,
    SmscQualification,
    Status,
)
from quarantine.rules import soft_threshold

ERR_NO_FILE = "Choose a CSV file to import."
ERR_TENANT = "Choose the tenant."


class DomainFilter(admin.SimpleListFilter):
    """The email domains with the most entries (a full list could be thousands long)."""

    title = "email domain"
    parameter_name = "domain"
    TOP = 25

    def lookups(self, request, model_admin):
        rows = (model_admin.get_queryset(request).exclude(domain="").values("domain")
                .annotate(n=Count("id")).order_by("-n", "domain")[:self.TOP])
        return [(r["domain"], f"{r['domain']} ({r['n']})") for r in rows]

    def queryset(self, request, queryset):
        return queryset.filter(domain=self.value()) if self.value() else queryset


class EntryAddForm(forms.ModelForm):
    class Meta:
        model = QuarantineEntry
        fields = ("tenant", "channel", "address", "status", "error_reason")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "status" in self.fields:  # the add form; an entry's own page shows every field read-only
            self.fields["status"].initial = Status.QUARANTINED
            self.fields["address"].help_text = ("Email addresses are stored in lower case, phone numbers in "
                                                "international format (E.164), push tokens as given.")

    def clean(self):
        data = super().clean()
        if data.get("channel") and data.get("address"):
            try:
                data["address"] = normalise(data["channel"], data["address"])
            except ValidationError as exc:
                for name, field_messages in exc.message_dict.items():
                    self.add_error(name if name in self.fields else None, field_messages)
        return data

    def validate_unique(self):
        pass  # adding an address that is listed already updates its entry (manual.entry_add)


def _tenant_choice(admin_obj, request) -> tuple[list[Tenant], Tenant | None]:
    """The tenants the user may change entries of, and the one chosen in the request (or the only one)."""
    tenants = list(admin_obj.operated_tenants(request))
    chosen = request.POST.get("tenant") or request.GET.get("tenant")
    if chosen:
        match = [t for t in tenants if str(t.pk) == chosen]
        if not match:
            raise Http404("No such tenant.")
        return tenants, match[0]
    return tenants, tenants[0] if len(tenants) == 1 else None


@admin.register(QuarantineEntry)
class QuarantineEntryAdmin(TenantScopedAdmin):
    form = EntryAddForm
    list_display = ("address", "channel", "status", "error_reason", "error_count", "last_error_at", "domain",
                    "tenant")
    list_filter = ("tenant", "channel", "status", "error_reason", "error_type", DomainFilter)
    search_fields = ("address", "domain")
    search_help_text = "Address or domain (emails in lower case, phone numbers as +<country code><number>)."
    list_select_related = ("tenant",)
    change_form_template = "admin/quarantine/quarantineentry/change_form.html"
    change_list_template = "admin/quarantine/quarantineentry/change_list.html"
    detail_fields = ("tenant", "channel", "address", "status", "error_type", "error_reason", "error_count",
                     "domain", "first_error_at", "last_error_at", "last_significant_error_at",
                     "last_delivery_id", "last_provider", "created_at", "updated_at")

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [(None, {"fields": ("tenant", "channel", "address", "status", "error_reason")})]
        return [(None, {"fields": self.detail_fields}), ("Evidence", {"fields": ("evidence_panel",)})]

    def get_readonly_fields(self, request, obj=None):
        return (*self.detail_fields, "evidence_panel") if obj is not None else ()

    def has_delete_permission(self, request, obj=None):
        return False  # an entry leaves the list by being set Valid (audited), or by the cleanup

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        if object_id is not None and request.method == "POST":
            # every field is read-only: a change goes through the actions, each audited
            self.object_for(request, object_id, level=VIEW)
            return HttpResponseNotAllowed(["GET"])
        return super().changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        entry = manual.entry_add(tenant=data["tenant"], channel=data["channel"], address=data["address"],
                                 status=data["status"], error_reason=data.get("error_reason") or "", by=request.user)
        obj.pk, obj._state.adding = entry.pk, False

    @admin.display(description="evidence (newest first)")
    def evidence_panel(self, obj):
        if not obj.evidence:
            return "No feedback recorded (added by hand)."
        return format_html(
            "<table id='evidence' style='width:100%'><thead><tr><th>time (UTC)</th><th>provider</th><th>delivery</th>"
            "<th>type / reason</th><th>counted</th><th>outcome</th></tr></thead><tbody>{}</tbody></table>",
            format_html_join("", "<tr class='evidence-item'><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
                                 "<td>{}</td></tr><tr><td colspan='6' style='border-top:0'>{}<pre class='evidence-raw' "
                                 "style='white-space:pre-wrap;word-break:break-word;margin:0 0 6px'>{}</pre></td></tr>",
                             (_evidence_row(e) for e in reversed(obj.evidence))))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(may_change=self.has_change_permission(request, obj), show_save=False,
                           show_save_and_continue=False, show_save_and_add_another=False, show_delete=False,
                           statuses=Status)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        # a user of one tenant needs no tenant column
        return shown if self.visible_tenants(request).count() > 1 else [f for f in shown if f != "tenant"]

    def changelist_view(self, request, extra_context=None):
        extra_context = {**(extra_context or {}), "title": "Quarantine list",
                         "may_change": roles.operates_any(request.user),
                         "threshold_tenants": list(self.visible_tenants(request)[:20])}
        return super().changelist_view(request, extra_context)

    # --- actions -----------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<path:object_id>/set-valid/", view(self.set_valid_view), name="quarantine_entry_set_valid"),
            path("<path:object_id>/allowlist/", view(self.allowlist_view), name="quarantine_entry_allowlist"),
            path("<path:object_id>/denylist/", view(self.denylist_view), name="quarantine_entry_denylist"),
            path("import/", view(self.import_view), name="quarantine_entry_import"),
            path("export/", view(self.export_view), name="quarantine_entry_export"),
            path("threshold/<int:tenant_id>/", view(self.threshold_view), name="quarantine_threshold"),
            *super().get_urls(),
        ]

    def _back(self, obj):
        return HttpResponseRedirect(reverse("admin:quarantine_quarantineentry_change", args=[obj.pk]))

    def _page(self, request, template, title, **context):
        return TemplateResponse(request, f"admin/quarantine/quarantineentry/{template}", {
            **self.admin_site.each_context(request), "opts": self.opts, "title": title, **context})

    def _set_status(self, request, obj, status, done):
        try:
            manual.entry_set_status(entry=obj, status=status, by=request.user, note=request.POST.get("note", ""))
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
            return self._back(obj)
        self.log_change(request, obj, done)
        self.message_user(request, f"{obj.address}: {done}")
        return self._back(obj)

    @object_view(level=CHANGE)
    def set_valid_view(self, request, obj):
        # the GET is the warning page; only its POST changes anything
        if request.method == "POST" and request.POST.get("confirm") == "yes":
            return self._set_status(request, obj, Status.VALID, "Set Valid; it will be targeted again.")
        return self._page(request, "set_valid.html", f"Set {obj.address} Valid?", original=obj,
                          warning=manual.SET_VALID_WARNING)

    @object_view(level=CHANGE, post_only=True)
    def allowlist_view(self, request, obj):
        return self._set_status(request, obj, Status.ALLOWLISTED, "On allowlist; always targeted, errors recorded.")

    @object_view(level=CHANGE, post_only=True)
    def denylist_view(self, request, obj):
        return self._set_status(request, obj, Status.DENYLISTED, "On denylist; never targeted.")

    def _require_module(self, request):
        if not self.has_module_permission(request):
            raise PermissionDenied

    def import_view(self, request):
        self._require_module(request)
        if not roles.operates_any(request.user):
            raise PermissionDenied
        tenants, tenant = _tenant_choice(self, request)
        result = error = None
        if request.method == "POST":
            upload = request.FILES.get("file")
            if tenant is None:
                error = ERR_TENANT
            elif upload is None:
                error = ERR_NO_FILE
            else:
                try:
                    result = csv_io.entries_import_csv(tenant=tenant, content=upload.read(csv_io.MAX_IMPORT_BYTES + 1),
                                                       by=request.user)
                except ValidationError as exc:
                    error = " ".join(exc.messages)
        return self._page(request, "import.html", "Import quarantine entries (CSV)", tenants=tenants, tenant=tenant,
                          result=result, error=error, columns=csv_io.IMPORT_COLUMNS, statuses=Status.values)

    def export_view(self, request):
        self._require_module(request)
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not roles.operates_any(request.user):
            raise PermissionDenied  # the list is read in the admin; taking it away is an operator's act
        changelist = self.get_changelist_instance(request)
        entries = changelist.get_queryset(request)
        tenants = self.operated_tenants(request).filter(pk__in=entries.values("tenant_id").distinct())
        entries = entries.filter(tenant__in=self.operated_tenants(request))
        text = csv_io.entries_export_csv(entries=entries, by=request.user, tenants=list(tenants))
        response = HttpResponse(text, content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = 'attachment; filename="quarantine.csv"'
        return response

    def threshold_view(self, request, tenant_id):
        self._require_module(request)
        tenant = self.visible_tenants(request).filter(pk=tenant_id).first()
        if tenant is None:
            raise Http404("No such tenant.")
        may_change = roles.is_operator_of(request.user, tenant.pk)
        preview = error = None
        if request.method == "POST":
            if not may_change:
                raise PermissionDenied
            try:
                if request.POST.get("confirm") == "yes":
                    applied = manual.threshold_set(tenant=tenant, threshold=request.POST.get("soft_threshold"),
                                                   by=request.user)
                    self.message_user(request, f"Soft-error threshold of {tenant} is now {applied.proposed}: "
                                               f"{applied.enter} address(es) quarantined, {applied.leave} released.")
                    return HttpResponseRedirect(reverse("admin:quarantine_threshold", args=[tenant.pk]))
                preview = manual.threshold_preview(tenant=tenant, threshold=request.POST.get("soft_threshold"))
            except ValidationError as exc:
                error = " ".join(exc.messages)
        return self._page(request, "threshold.html", f"Soft-error threshold — {tenant}", tenant=tenant,
                          current=soft_threshold(tenant), preview=preview, error=error, may_change=may_change,
                          proposed=request.POST.get("soft_threshold", ""))


def _label(choices, value) -> str:
    return dict(choices.choices).get(value, value) if value else "—"


def _evidence_row(item: dict) -> tuple:
    when = (item.get("time") or "").replace("T", " ")[:19]
    message = format_html("<small>{}</small><br>", item["message"]) if item.get("message") else ""
    return (when, item.get("provider", ""), item.get("delivery_id", ""),
            f"{_label(ErrorType, item.get('type'))} / {_label(ErrorReason, item.get('reason'))}",
            "yes" if item.get("counted") else "no", item.get("outcome", ""), message, item.get("raw", ""))


# --- qualification tables ------------------------------------------------------------------
class PlatformTableAdmin(TenantScopedAdmin):
    """A platform-wide table (no tenant): everyone with a role reads it, CSMs edit it."""

    csm_only = True

    def scope(self, request, queryset):
        return queryset

    def tenant_id_of(self, obj):
        return None

    def has_view_permission(self, request, obj=None):
        return self._role_allows_view(request)

    def _may_see_secrets(self, request, obj) -> bool:
        return True

    def has_delete_permission(self, request, obj=None):
        # a shipped rule is put back by the next migrate: switch it off or change it instead
        return super().has_delete_permission(request, obj) and not (obj is not None and obj.shipped)

    def get_actions(self, request):
        # a bulk delete would take shipped rules too; rows are deleted one by one from their page
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_log_write(user=request.user, action=f"quarantine.{self.opts.model_name}.{'change' if change else 'add'}",
                        obj=obj, detail={"changed": form.changed_data})

    def delete_model(self, request, obj):
        audit_log_write(user=request.user, action=f"quarantine.{self.opts.model_name}.delete", obj=obj,
                        detail={"was": str(obj)})
        super().delete_model(request, obj)


@admin.register(EmailQualificationRule)
class EmailQualificationRuleAdmin(PlatformTableAdmin):
    list_display = ("priority", "description", "code_pattern", "text_pattern", "error_type", "error_reason",
                    "counts", "enabled")
    list_filter = ("error_type", "error_reason", "counts", "enabled", "shipped")
    search_fields = ("key", "description", "code_pattern", "text_pattern")
    fields = ("key", "description", "priority", "code_pattern", "text_pattern", "error_type", "error_reason",
              "counts", "enabled")


@admin.register(PushQualificationRule)
class PushQualificationRuleAdmin(PlatformTableAdmin):
    list_display = ("provider", "code", "scenario", "error_type", "error_reason", "retry", "shipped")
    list_filter = ("provider", "error_type", "error_reason", "retry")
    search_fields = ("code", "scenario")
    fields = ("provider", "code", "scenario", "error_type", "error_reason", "retry")


class TenantTableAdmin(TenantScopedAdmin):
    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_log_write(user=request.user, action=f"quarantine.{self.opts.model_name}.{'change' if change else 'add'}",
                        tenant=obj.tenant, obj=obj, detail={"changed": form.changed_data})

    def delete_model(self, request, obj):
        audit_log_write(user=request.user, action=f"quarantine.{self.opts.model_name}.delete", tenant=obj.tenant,
                        obj=obj, detail={"was": str(obj)})
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:  # each deletion audited, as from its page
            self.delete_model(request, obj)


@admin.register(SmscConfig)
class SmscConfigAdmin(TenantTableAdmin):
    list_display = ("name", "tenant", "status_regex", "error_regex", "optout_keywords")
    list_filter = ("tenant",)
    fields = ("tenant", "name", "status_regex", "error_regex", "optout_keywords")

    def get_readonly_fields(self, request, obj=None):
        return ("tenant",) if obj is not None else ()


class ToQualifyFilter(admin.SimpleListFilter):
    title = "qualification"
    parameter_name = "to_qualify"

    def lookups(self, request, model_admin):
        return [("yes", "To be qualified"), ("no", "Qualified")]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(qualified=self.value() == "no")
        return queryset


@admin.register(SmscQualification)
class SmscQualificationAdmin(TenantTableAdmin):
    list_display = ("__str__", "tenant", "error_type", "error_reason", "qualified", "seen_count", "last_seen_at")
    list_filter = ("tenant", ToQualifyFilter, "smsc", "error_type", "error_reason")
    search_fields = ("smsc", "status", "error_code")
    fields = ("tenant", "smsc", "status", "error_code", "error_type", "error_reason", "message", "seen_count",
              "first_seen_at", "last_seen_at")

    def get_readonly_fields(self, request, obj=None):
        seen = ("message", "seen_count", "first_seen_at", "last_seen_at")
        return ("tenant", "smsc", "status", "error_code", *seen) if obj is not None else seen

    def save_model(self, request, obj, form, change):
        obj.qualified = True  # saving the type and reason is qualifying the combination
        super().save_model(request, obj, form, change)
