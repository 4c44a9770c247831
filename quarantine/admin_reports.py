"""The analysis side's admin: deliveries and their report, the bounce report by domain with the
projection, and the blocklist. Imported from QuarantineConfig.ready(), where it also adds the
profile panel and the contact list's filter."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from mktops import roles
from mktops.admin_base import VIEW, TenantScopedAdmin, object_view
from mktops.models import Contact
from mktops.timeline import register_contact_filter, register_profile_panel
from quarantine import blocklist, reports
from quarantine.models import BlocklistEntry, Channel, Delivery, ExclusionReason
from quarantine.profile import EmailQuarantinedFilter, quarantine_profile_panel

site = admin.site
EXCLUSIONS_PAGE = 100


@admin.register(Delivery)
class DeliveryAdmin(TenantScopedAdmin):
    """Deliveries as the analysis API saw them; each one's page is its quarantine report."""

    read_only = True
    list_display = ("delivery_id", "channel", "tenant", "targets", "to_send", "excluded_at_analysis", "rejected",
                    "last_analysed")
    list_filter = ("channel", "tenant")
    search_fields = ("=delivery_id",)
    search_help_text = "Exact delivery id."
    list_select_related = ("tenant",)
    change_list_template = "quarantine/delivery_changelist.html"

    def has_delete_permission(self, request, obj=None):
        return False  # the exclusion log is evidence

    @admin.display(description="excluded")
    def excluded_at_analysis(self, obj):
        return format_html('<span title="quarantined {} · on denylist {} · blocklisted {}">{}</span>',
                           obj.quarantined, obj.denylisted, obj.blocklisted, obj.excluded)

    @admin.display(description="last analysed", ordering="last_analysed_at")
    def last_analysed(self, obj):
        return obj.last_analysed_at.strftime("%Y-%m-%d %H:%M UTC")

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        # the tenant column only for whoever sees more than one tenant
        if not roles.is_csm(request.user) and len(roles.tenant_ids(request.user)) < 2:
            shown = [f for f in shown if f != "tenant"]
        return shown

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("bounces/", view(self.bounces_view), name="quarantine_delivery_bounces"),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return self.report_view(request, object_id)

    @object_view(level=VIEW)
    def report_view(self, request, delivery):
        reason = request.GET.get("reason", "")
        if reason not in ExclusionReason.values:
            reason = ""
        page = Paginator(reports.delivery_exclusions(delivery=delivery, reason=reason),
                         EXCLUSIONS_PAGE).get_page(request.GET.get("page"))
        after = reports.delivery_quarantined_after(delivery=delivery)
        # each excluded target links to its contact's profile, when the contact is known
        contacts = dict(Contact.objects.filter(tenant_id=delivery.tenant_id, uid__in=[x.uid for x in page])
                        .values_list("uid", "pk"))
        for exclusion in page:
            exclusion.contact_pk = contacts.get(exclusion.uid)
        return TemplateResponse(request, "quarantine/delivery_report.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": delivery,
            "title": f"Delivery {delivery.delivery_id}", "subtitle": delivery.tenant.name,
            "delivery": delivery, "reason": reason, "reasons": ExclusionReason.choices,
            "page": page, "quarantined_after": after,
        })

    def bounces_view(self, request):
        """Bounces by recipient domain and error type: the user's tenants, or the platform (CSMs)."""
        if not self.has_module_permission(request):
            raise PermissionDenied
        tenants = list(self.visible_tenants(request))
        chosen = request.GET.get("tenant", "")
        if chosen:
            tenant = next((t for t in tenants if str(t.pk) == chosen), None)
            if tenant is None:
                raise Http404("No such tenant.")  # another tenant's report is a missing one
            tenant_ids, scope = [tenant.pk], tenant.name
        elif roles.is_csm(request.user):
            tenant_ids, scope = None, "the whole platform"
        else:
            tenant_ids, scope = [t.pk for t in tenants], ", ".join(t.name for t in tenants)
        channel = request.GET.get("channel", Channel.EMAIL)
        if channel not in Channel.values:
            channel = Channel.EMAIL
        delivery = self._delivery_of(request, tenant_ids)
        if delivery is not None:
            tenant_ids, scope, channel = [delivery.tenant_id], f"{delivery.tenant.name}, delivery {delivery}", \
                delivery.channel
        report = reports.bounce_report(tenant_ids=tenant_ids, channel=channel, period=request.GET.get("period", "30"),
                                       delivery_id=delivery.delivery_id if delivery else "")
        projection, projection_errors, inputs = self._projection(request)
        return TemplateResponse(request, "quarantine/bounce_report.html", {
            **self.admin_site.each_context(request), "opts": self.opts,
            "title": "Bounces and non-deliverables", "subtitle": scope, "report": report,
            "chart": reports.bounce_chart_svg(report["rows"]), "tenants": tenants, "chosen": chosen,
            "channels": Channel.choices, "periods": list(reports.PERIODS), "is_csm": roles.is_csm(request.user),
            "projection": projection, "projection_errors": projection_errors, "inputs": inputs,
            "delivery": delivery,
        })

    def _delivery_of(self, request, tenant_ids):
        """The delivery the report is narrowed to (`?delivery=<pk>`), 404 outside the user's tenants."""
        pk = request.GET.get("delivery", "")
        if not pk:
            return None
        delivery = self.get_queryset(request).filter(pk=pk).select_related("tenant").first() if pk.isdigit() else None
        if delivery is None or (tenant_ids is not None and delivery.tenant_id not in tenant_ids):
            raise Http404("No such delivery.")
        return delivery

    def _projection(self, request):
        inputs = {"lifetime": request.GET.get("lifetime", "3"), "growth": request.GET.get("growth", "50"),
                  "years": request.GET.get("years", "5")}
        try:
            years = int(inputs["years"])
        except ValueError:
            return [], {"years": reports.ERR_YEARS}, inputs
        try:
            return reports.quarantine_projection(lifetime_years=inputs["lifetime"], growth_percent=inputs["growth"],
                                                 years=years), {}, inputs
        except ValidationError as exc:
            return [], {name: messages[0] for name, messages in exc.message_dict.items()}, inputs


# --- the blocklist ------------------------------------------------------------------------------
class BlocklistAddForm(forms.ModelForm):
    uid_given = forms.CharField(label="Contact uid", max_length=255)

    class Meta:
        model = BlocklistEntry
        fields = ("tenant", "channel", "note")

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        contact = Contact.objects.filter(tenant=data["tenant"], uid=data["uid_given"].strip()).first()
        if contact is None:
            raise ValidationError({"uid_given": blocklist.ERR_UNKNOWN_CONTACT})
        if BlocklistEntry.objects.filter(tenant=data["tenant"], channel=data["channel"], uid=contact.uid).exists():
            raise ValidationError({"channel": blocklist.ERR_ALREADY.format(
                channel=Channel(data["channel"]).label)})
        self.contact = contact
        return data

    def validate_unique(self):
        pass  # checked in clean() on the uid, which the form does not hold as a model field


@admin.register(BlocklistEntry)
class BlocklistEntryAdmin(TenantScopedAdmin):
    list_display = ("uid", "channel", "tenant", "note", "created_by", "created_at")
    list_filter = ("channel", "tenant")
    search_fields = ("=uid",)
    search_help_text = "Exact contact uid."
    list_select_related = ("tenant", "created_by")
    readonly_fields = ("tenant", "uid", "contact_link", "channel", "note", "created_by", "created_at")
    fields = readonly_fields
    actions = ["remove_selected"]

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = BlocklistAddForm
            kwargs["fields"] = ("tenant", "uid_given", "channel", "note")
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("tenant", "uid_given", "channel", "note") if obj is None else self.fields

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def has_change_permission(self, request, obj=None):
        return False  # an opt-out is added or removed, never edited

    @admin.display(description="contact")
    def contact_link(self, obj):
        url = reverse("admin:mktops_contact_change", args=[obj.contact_id])
        return format_html('<a href="{}">{}</a>', url, obj.uid)

    def save_model(self, request, obj, form, change):
        entry = blocklist.blocklist_add(contact=form.contact, channel=obj.channel, note=obj.note, by=request.user)
        obj.pk, obj.uid, obj.contact, obj.created_at = entry.pk, entry.uid, entry.contact, entry.created_at

    def delete_model(self, request, obj):
        blocklist.blocklist_remove(entry=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for entry in queryset:
            if roles.is_operator_of(request.user, entry.tenant_id):
                blocklist.blocklist_remove(entry=entry, by=request.user)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # removal goes through the audited service, one by one
        if not roles.operates_any(request.user):
            actions.pop("remove_selected", None)
        return actions

    @admin.action(description="Remove the selected contacts from the blocklist")
    def remove_selected(self, request, queryset):
        removed = 0
        for entry in queryset:
            if roles.is_operator_of(request.user, entry.tenant_id):
                blocklist.blocklist_remove(entry=entry, by=request.user)
                removed += 1
        self.message_user(request, f"Removed {removed} blocklist entr{'y' if removed == 1 else 'ies'}.")

    # --- the profile panel's buttons -----------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("for-contact/<path:contact_id>/add/", view(self.add_for_contact_view),
                 name="quarantine_blocklistentry_add_for_contact"),
            path("<path:object_id>/remove/", view(self.remove_view), name="quarantine_blocklistentry_remove"),
            *super().get_urls(),
        ]

    def add_for_contact_view(self, request, contact_id):
        contact_admin = self.admin_site._registry[Contact]
        contact = contact_admin.object_for(request, contact_id, level=VIEW)  # 404 outside the user's tenants
        if request.method != "POST":
            return HttpResponseRedirect(_profile_url(contact))
        if not roles.is_operator_of(request.user, contact.tenant_id):
            raise PermissionDenied
        try:
            entry = blocklist.blocklist_add(contact=contact, channel=request.POST.get("channel", ""),
                                            note=request.POST.get("note", ""), by=request.user)
        except ValidationError as exc:
            self.message_user(request, " ".join(m for ms in exc.message_dict.values() for m in ms), messages.ERROR)
        else:
            self.log_addition(request, entry, "Blocklisted from the contact profile.")
            self.message_user(request, f"{contact.uid} will no longer be contacted by "
                                       f"{entry.get_channel_display()}.")
        return HttpResponseRedirect(_profile_url(contact))

    @object_view(level=VIEW, post_only=True)
    def remove_view(self, request, entry):
        # an entry is never changed, only removed: the delete permission decides
        if not self.has_delete_permission(request, entry):
            raise PermissionDenied
        contact = entry.contact
        self.log_deletions(request, [entry])
        blocklist.blocklist_remove(entry=entry, by=request.user)
        self.message_user(request, f"{entry.uid} may be contacted by {entry.get_channel_display()} again.")
        return HttpResponseRedirect(_profile_url(contact))

    def has_delete_permission(self, request, obj=None):
        return self._may_write(request, obj)


def _profile_url(contact) -> str:
    return reverse("admin:mktops_contact_change", args=[contact.pk])


register_profile_panel(quarantine_profile_panel)
register_contact_filter(EmailQuarantinedFilter)
