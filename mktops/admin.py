"""The core's admin pages: tenants and entitlements, roles, API keys, audit log,
contacts (the contact profile) and events."""

import json
from datetime import UTC, datetime, time

from axes.models import AccessAttempt, AccessLog
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.paginator import Paginator
from django.db.models import Q
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_date
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django_q import models as django_q_models

from mktops import clock, retention, roles, services, tenant_notes, throttle
from mktops.admin_base import VIEW, ReadOnlyInline, TenantScopedAdmin, object_view, to_field_checked
from mktops.admin_catalogue import CatalogueAutocomplete, catalogue_page
from mktops.ingest import normalise_mobile
from mktops.models import (
    ApiKey,
    AuditLog,
    Contact,
    Device,
    EntitlementChange,
    Event,
    EventName,
    Membership,
    Role,
    Tenant,
)
from mktops.timeline import contact_filters, event_actions, profile_panels

site = admin.site


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows, so a page of a table with millions of rows
    (events, contacts, the audit log) costs no full COUNT(*)."""

    CAP = 10_000

    @cached_property
    def count(self):
        return self.object_list.order_by()[: self.CAP].count()


# --- tenants and entitlements ---------------------------------------------
class EntitlementChangeInline(ReadOnlyInline):
    model = EntitlementChange
    fields = ("changed_at", "changed_by", "field", "old_value", "new_value")
    readonly_fields = fields
    verbose_name_plural = "Entitlement history"
    max_num = 0


@admin.register(Tenant)
class TenantAdmin(TenantScopedAdmin):
    tenant_path = "pk"
    csm_only = True
    list_display = ("name", "slug", "db_name", "archive_enabled", "s3_export_enabled",
                    "webhook_zone1_enabled", "webhook_zone2_enabled", "channel_quota",
                    "event_retention_days")
    search_fields = ("name", "slug", "db_name")
    inlines = [EntitlementChangeInline]
    fieldsets = (
        (None, {"fields": ("name", "slug", "db_name", "app_name")}),
        ("Message archive", {"fields": ("archive_enabled", "archive_email", "archive_sms",
                                        "archive_push", "archive_file_retention_days", "feature_notes")}),
        ("S3 export", {"fields": ("s3_export_enabled",)}),
        ("Webhooks", {"fields": (
            "webhook_zone1_enabled", ("webhook_zone1_purchase_start", "webhook_zone1_purchase_end"),
            "webhook_zone1_addon_end",
            "webhook_zone2_enabled", ("webhook_zone2_purchase_start", "webhook_zone2_purchase_end"),
            "webhook_zone2_addon_end")}),
        ("Quotas and retention", {"fields": ("channel_quota", "webhook_endpoint_quota", "event_retention_days",
                                             "pii_tokenised_sending", "retention_holds")}),
        ("Channels", {"fields": ("service_provider",)}),
    )
    readonly_fields = ("retention_holds", "feature_notes")

    @admin.display(description="feature status")
    def feature_notes(self, obj):
        """What the features say about this tenant (mktops.tenant_notes), e.g. messages waiting."""
        notes = tenant_notes.tenant_notes(obj) if obj is not None and obj.pk else []
        if not notes:
            return "—"
        return format_html_join("", "<p class=\"tenant-note\">{}</p>", ((note,) for note in notes))

    @admin.display(description="kept past retention")
    def retention_holds(self, obj):
        """A line per feature keeping events past retention because it has not delivered them yet."""
        if obj is None or obj.pk is None:
            return "—"
        notes = retention.retention_notes(obj, now=clock.now())
        if not notes:
            return "Nothing: every event past the retention is deleted."
        return format_html_join("", "<p class=\"retention-hold\">{}</p>", ((note,) for note in notes))

    def delete_queryset(self, request, queryset):
        # one by one, through Tenant.delete: it waits for the tenant's ingestion
        for tenant in queryset:
            tenant.delete()

    def tenant_id_of(self, obj):
        return obj.pk

    def scope(self, request, queryset):
        if roles.is_csm(request.user):
            return queryset
        return queryset.filter(pk__in=roles.tenant_ids(request.user))

    def save_model(self, request, obj, form, change):
        if not change:
            obj.save()
            return
        before = Tenant.objects.get(pk=obj.pk)
        services.tenant_save_entitlements(
            tenant=obj, before=services.tenant_entitlements(before), by=request.user
        )


# --- roles ------------------------------------------------------------------
@admin.register(Membership)
class MembershipAdmin(TenantScopedAdmin):
    csm_only = True
    view_roles = (Role.OPERATOR, Role.CSM)
    list_display = ("user", "role", "tenant")
    list_filter = ("role", "tenant")
    autocomplete_fields = ("user",)

    def scope(self, request, queryset):
        if roles.is_csm(request.user):
            return queryset
        return queryset.filter(tenant__in=roles.tenant_ids(request.user, (Role.OPERATOR,)))


class CsmOnlyMixin:
    def history_view(self, request, object_id, extra_context=None):
        # Django's history view ignores _to_field; refused here as on every other page
        to_field_checked(self, request)
        return super().history_view(request, object_id, extra_context)

    def has_module_permission(self, request):
        return roles.is_csm(request.user)

    def has_view_permission(self, request, obj=None):
        return roles.is_csm(request.user)

    def has_add_permission(self, request, *args):
        return roles.is_csm(request.user)

    def has_change_permission(self, request, obj=None):
        return roles.is_csm(request.user)

    def has_delete_permission(self, request, obj=None):
        return roles.is_csm(request.user)


def _csm_only(model):
    """Re-register a third-party admin so that only CSMs see it.

    Models that their app did not register (django-q2's queue table with the
    Redis broker) stay unregistered.
    """
    existing = site._registry.get(model)
    if existing is None:
        return
    site.unregister(model)
    site.register(model, type(f"CsmOnly{type(existing).__name__}", (CsmOnlyMixin, type(existing)), {}))


for _model in (get_user_model(), Group):
    _csm_only(_model)
for _name in ("Schedule", "Success", "Failure", "OrmQ"):
    _csm_only(getattr(django_q_models, _name))


# --- API keys ---------------------------------------------------------------
@admin.register(ApiKey)
class ApiKeyAdmin(TenantScopedAdmin):
    # only operators see a key's hash, and nobody filters or searches on it
    secret_fields = ("key_hash",)
    list_display = ("name", "tenant", "key_hint", "created_at", "last_used_at", "status")
    list_filter = ("tenant",)
    fields = ("tenant", "name", "key_hint", "created_by", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("key_hint", "created_by", "created_at", "last_used_at", "revoked_at")
    actions = ["revoke"]

    @admin.display(description="status")
    def status(self, obj):
        return "revoked" if obj.revoked_at else "active"

    def get_readonly_fields(self, request, obj=None):
        # a key's tenant and name are fixed once it exists: revoke and create anew
        return self.readonly_fields + (("tenant", "name") if obj else ())

    def has_delete_permission(self, request, obj=None):
        return False  # revoked keys stay listed for the audit trail

    def save_model(self, request, obj, form, change):
        if change:
            return
        key, raw = services.api_key_create(tenant=obj.tenant, name=obj.name, by=request.user)
        obj.pk = key.pk
        obj.__dict__.update({k: v for k, v in key.__dict__.items() if not k.startswith("_")})
        messages.warning(
            request,
            format_html("API key created. Copy it now, it will not be shown again: <code>{}</code>", raw),
        )

    @admin.action(description="Revoke selected API keys")
    def revoke(self, request, queryset):
        count = 0
        for key in queryset:
            if roles.is_operator_of(request.user, key.tenant_id):
                services.api_key_revoke(key=key, by=request.user)
                count += 1
        self.message_user(request, f"Revoked {count} API key(s).")

    def get_actions(self, request):
        actions = super().get_actions(request)
        if not roles.operates_any(request.user):
            actions.pop("revoke", None)
        return actions


# --- audit log --------------------------------------------------------------
@admin.register(AuditLog)
class AuditLogAdmin(TenantScopedAdmin):
    read_only = True
    view_roles = (Role.OPERATOR, Role.CSM)
    list_display = ("at", "user", "action", "tenant", "object_type", "object_id")
    list_filter = ("action", "tenant")
    list_select_related = ("user", "tenant")
    show_full_result_count = False
    paginator = CappedCountPaginator

    def scope(self, request, queryset):
        if roles.is_csm(request.user):
            return queryset
        return queryset.filter(tenant__in=roles.tenant_ids(request.user, (Role.OPERATOR,)))


# --- contacts: the contact profile ------------------------------------------
class DeviceInline(ReadOnlyInline):
    model = Device
    fields = ("platform", "push_token", "last_seen_at")
    readonly_fields = fields


TIMELINE_PAGE_SIZE = 25
# deeper than this is not browsing; it also keeps the OFFSET inside a 64-bit integer
TIMELINE_MAX_PAGE = 10_000


@admin.register(Contact)
class ContactAdmin(TenantScopedAdmin):
    """Contacts are written by the ingestion API; here they are looked up and read."""

    read_only = True
    list_display = ("uid", "email", "mobile_number", "tenant", "updated_at")
    list_filter = ("tenant",)
    list_select_related = ("tenant",)
    # exact matches keep the lookup on the (tenant, …) indexes
    search_fields = ("=uid", "=email", "=mobile_number")
    search_help_text = "Find a contact by exact uid, email address or mobile number."
    show_full_result_count = False
    paginator = CappedCountPaginator

    def get_list_filter(self, request):
        # then the filters features add (mktops.timeline.register_contact_filter)
        return [*super().get_list_filter(request), *contact_filters()]

    def get_search_results(self, request, queryset, search_term):
        # exact, normalised matches on the indexed columns: the API stores emails
        # lower-cased and mobile numbers without spaces, and a case-insensitive
        # match could not use the (tenant, email) index
        term = search_term.strip()
        if not term:
            return self.scope(request, queryset), False
        condition = Q(uid=term) | Q(email=term.lower())
        mobile = normalise_mobile(term)
        if mobile:
            condition |= Q(mobile_number=mobile)
        return self.scope(request, queryset.filter(condition)), False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if request.method not in ("GET", "HEAD"):
            return super().change_view(request, object_id, form_url, extra_context)
        contact = self.object_for(request, object_id, level=VIEW)
        return TemplateResponse(request, "admin/mktops/contact/profile.html",
                                self.profile_context(request, contact))

    def get_urls(self):
        return [
            path("<path:object_id>/event-names/", self.admin_site.admin_view(self.event_names_view),
                 name="mktops_contact_event_names"),
            *super().get_urls(),
        ]

    @object_view(level=VIEW)
    def event_names_view(self, request, contact):
        """The timeline filter's names: the contact's tenant's, for whoever may see the contact."""
        return catalogue_page(request, EventName.objects.filter(tenant_id=contact.tenant_id))

    def event_filter(self, contact, selected: str):
        """The timeline's event box: an autocomplete, never the tenant's whole catalogue of names."""
        widget = CatalogueAutocomplete(url=reverse("admin:mktops_contact_event_names", args=[contact.pk]),
                                       tenant=contact.tenant_id, placeholder="All events", multiple=False,
                                       attrs={"id": "tl-name"})
        return {"html": widget.render("event_name", selected or None), "media": widget.media}

    def profile_context(self, request, contact):
        timeline = Timeline(request, contact)
        return {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Contact {contact.uid}",
            "subtitle": contact.tenant.name,
            "contact": contact,
            "attributes": sorted(contact.attributes.items()),
            "devices": contact.devices.all(),
            "timeline": timeline,
            "event_filter": self.event_filter(contact, request.GET.get("event_name", "")),
            "has_view_permission": True,
            "profile_panels": profile_panels(request, contact),
        }


class Timeline:
    """One page of a contact's events, newest first, filtered by name and dates."""

    def __init__(self, request, contact):
        self.request = request
        self.contact = contact
        self.event_name = request.GET.get("event_name", "")
        self.date_from = request.GET.get("from", "")
        self.date_to = request.GET.get("to", "")
        self.errors = []
        # parsed up front: the page shows the errors above the rows
        self.start = self._bound(self.date_from, "from", end=False)
        self.end = self._bound(self.date_to, "to", end=True)
        try:
            self.page_number = min(TIMELINE_MAX_PAGE, max(1, int(request.GET.get("page", "1"))))
        except ValueError:
            self.page_number = 1

    def _bound(self, raw, field, end):
        if not raw:
            return None
        try:
            day = parse_date(raw)
        except ValueError:  # well-formed but impossible, such as 2026-02-30
            day = None
        if day is None:
            self.errors.append(f"{field}: {raw!r} is not a date (YYYY-MM-DD).")
            return None
        return datetime.combine(day, time.max if end else time.min, tzinfo=UTC)

    def queryset(self):
        qs = Event.objects.filter(contact=self.contact).order_by(
            "-event_time", "-id"
        )
        if self.event_name:
            qs = qs.filter(event_name=self.event_name)
        if self.start:
            qs = qs.filter(event_time__gte=self.start)
        if self.end:
            qs = qs.filter(event_time__lte=self.end)
        return qs

    @cached_property
    def rows(self):
        # fetch one more than a page to know whether there is a next page,
        # without counting the contact's whole history
        offset = (self.page_number - 1) * TIMELINE_PAGE_SIZE
        events = list(self.queryset()[offset:offset + TIMELINE_PAGE_SIZE + 1])
        self.has_next = len(events) > TIMELINE_PAGE_SIZE
        events = events[:TIMELINE_PAGE_SIZE]
        actions = event_actions(self.request, events)
        return [
            {
                "event": ev,
                "actions": actions.get(ev.pk, []),
                "attributes": json.dumps(
                    {"event_attributes": ev.event_attributes, "user_attributes": ev.user_attributes,
                     "device_attributes": ev.device_attributes},
                    indent=2, sort_keys=True, ensure_ascii=False, default=str),
            }
            for ev in events
        ]

    def page_url(self, page):
        query = self.request.GET.copy()
        query["page"] = page
        return f"?{query.urlencode()}"

    @property
    def next_url(self):
        self.rows  # noqa: B018 - sets has_next
        return self.page_url(self.page_number + 1) if self.has_next else ""

    @property
    def previous_url(self):
        return self.page_url(self.page_number - 1) if self.page_number > 1 else ""


# --- events -------------------------------------------------------------
@admin.register(Event)
class EventAdmin(TenantScopedAdmin):
    read_only = True
    list_display = ("event_time", "event_name", "contact_link", "event_type", "campaign_id", "tenant", "seq")
    list_filter = ("event_type", "tenant")
    list_select_related = ("contact", "tenant")
    search_fields = ("=uid", "=event_uuid", "=campaign_id")
    search_help_text = "Exact uid, event uuid or campaign id."

    def get_search_results(self, request, queryset, search_term):
        # exact matches that each use an index: the contact's uid (unique per
        # tenant), the event uuid (unique per tenant), the campaign id
        term = search_term.strip()
        if not term:
            return self.scope(request, queryset), False
        condition = Q(contact__uid=term) | Q(event_uuid=term) | Q(campaign_id=term)
        return self.scope(request, queryset.filter(condition)), False
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 50
    # newest received first, on the (tenant, -id) index; sorting by another
    # column would sort millions of rows for one page
    ordering = ("-id",)
    sortable_by = ()
    readonly_fields = ("tenant", "contact", "seq", "uid", "event_type", "event_code", "event_name",
                       "event_uuid", "event_time", "event_source", "campaign_id", "email_id",
                       "mobile_number", "push_id", "received_at", "pretty_attributes")
    fields = readonly_fields

    @admin.display(description="contact", ordering="contact__uid")
    def contact_link(self, obj):
        url = reverse("admin:mktops_contact_change", args=[obj.contact_id])
        return format_html('<a href="{}">{}</a>', url, obj.contact.uid)

    @admin.display(description="attributes")
    def pretty_attributes(self, obj):
        data = {"event_attributes": obj.event_attributes, "user_attributes": obj.user_attributes,
                "device_attributes": obj.device_attributes}
        return format_html("<pre>{}</pre>", json.dumps(data, indent=2, sort_keys=True, default=str))


@admin.register(EventName)
class EventNameAdmin(TenantScopedAdmin):
    read_only = True
    view_roles = (Role.OPERATOR, Role.CSM)
    list_display = ("name", "tenant", "first_seen_at")
    list_filter = ("tenant",)
    search_fields = ("name",)


# --- sign-in throttling: CSMs only ------------------------------------------
# The rows hold the usernames and addresses of every tenant's sign-ins, so
# only CSMs see them; they are written by django-axes and read here.
class _CsmReadOnlyMixin(CsmOnlyMixin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # unlocking goes through the audited action


@admin.register(AccessAttempt)
class AccessAttemptAdmin(_CsmReadOnlyMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "username", "ip_address", "failures_since_start", "user_agent")
    search_fields = ("=username", "=ip_address")
    search_help_text = "Exact username or address."
    fields = ("username", "ip_address", "user_agent", "failures_since_start", "attempt_time", "path_info")
    readonly_fields = fields
    ordering = ("-attempt_time",)
    actions = ["unlock"]

    @admin.action(description="Unlock sign-in for the selected usernames and addresses")
    def unlock(self, request, queryset):
        pairs = set(queryset.values_list("username", "ip_address"))
        for username, ip_address in sorted(pairs, key=str):
            throttle.login_unlock(username=username, ip_address=ip_address, by=request.user)
        self.message_user(request, f"Unlocked sign-in for {len(pairs)} username and address pair(s).")


@admin.register(AccessLog)
class AccessLogAdmin(_CsmReadOnlyMixin, admin.ModelAdmin):
    list_display = ("attempt_time", "logout_time", "username", "ip_address", "user_agent")
    search_fields = ("=username", "=ip_address")
    fields = ("username", "ip_address", "user_agent", "attempt_time", "logout_time", "path_info")
    readonly_fields = fields
    ordering = ("-attempt_time",)
    show_full_result_count = False
    paginator = CappedCountPaginator
