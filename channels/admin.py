"""Channel pages: the list, create (with each type's bound resource and prerequisite), the channel
page (edit name and remarks, the binding, the failure checklist, the history), bind and rebind,
unbind (CSMs) and delete. Thin: parse, check the role, call channels.services, render."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html, format_html_join
from django.views.decorators.debug import sensitive_post_parameters

from channels.admin_pages import ChannelChangeList, channel_urls, health_column
from channels.models import CHANNEL_TYPES, Channel, ChannelHistory, ChannelState, ChannelType
from channels.providers import adapter_for
from channels.services import lifecycle as svc
from channels.services.binding import troubleshooting_checklist
from channels.services.menu import menu_name
from channels.services.usage import USAGE_DAYS, channel_usage
from mktops import roles
from mktops.admin_base import CHANGE, CSM, ReadOnlyInline, TenantScopedAdmin, object_view
from mktops.crypto import mask
from mktops.jobs import ACTIVE

# the pages of the platform half, linked from the channel page when they exist
PLATFORM_PAGES = (("channels_channel_health", "Health"), ("channels_channel_report", "Data report"),
                  ("channels_channel_test_send", "Send test message"))


def app_menu_name(request) -> str:
    """The feature's name in the menu and breadcrumbs for this user ("Customer management" for a
    service provider's people)."""
    return menu_name(request) or Channel._meta.app_config.verbose_name


def _add_errors(form: forms.Form, exc: ValidationError) -> None:
    for name, field_messages in exc.message_dict.items():
        for message in field_messages:
            form.add_error(name if name in form.fields else None, message)


# --- forms ---------------------------------------------------------------------------------------
class ChannelCreateForm(forms.Form):
    tenant = forms.ModelChoiceField(queryset=None, label="Tenant")
    channel_type = forms.ChoiceField(label="Channel type", choices=[("", "—")] + ChannelType.choices)
    # the limits are the service's, with its message naming them (no max_length here)
    name = forms.CharField(label="Channel name", required=False, help_text=f"At most {svc.NAME_MAX} characters.")
    remarks = forms.CharField(label="Remarks", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=f"At most {svc.REMARKS_MAX} characters.")
    prerequisite_confirmed = forms.BooleanField(label="I confirm the prerequisite shown above is met",
                                                required=False)

    def __init__(self, *args, tenants, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tenant"].queryset = tenants
        if tenants.count() == 1:
            self.fields["tenant"].initial = tenants.first()
        self.fields["channel_type"].error_messages["invalid_choice"] = svc.ERR_TYPE
        self.fields["channel_type"].error_messages["required"] = svc.ERR_TYPE


class ChannelEditForm(forms.ModelForm):
    name = forms.CharField(label="Channel name", required=False, help_text=f"At most {svc.NAME_MAX} characters.")
    remarks = forms.CharField(label="Remarks", required=False, widget=forms.Textarea(attrs={"rows": 3}),
                              help_text=f"At most {svc.REMARKS_MAX} characters.")

    class Meta:
        model = Channel
        fields = ("name", "remarks")

    def _post_clean(self):
        # the service's rules, shown beside their fields (the model's max_length would answer first)
        errors = svc._check_text(name=self.cleaned_data.get("name", ""), remarks=self.cleaned_data.get("remarks", ""))
        for name, message in errors.items():
            self.add_error(name, message)


def bind_form_class(channel_type: str) -> type[forms.Form]:
    """A form with the adapter's identity fields; secrets are password inputs that never echo."""
    fields = {}
    for spec in adapter_for(channel_type).identity_fields:
        widget = forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}) if spec.secret else None
        fields[spec.name] = forms.CharField(label=spec.label, help_text=spec.help, required=False, widget=widget,
                                            strip=True)
    return type("BindForm", (forms.Form,), fields)


class HistoryInline(ReadOnlyInline):
    model = ChannelHistory
    fields = ("at", "who", "from_state", "to_state", "why", "account_id")
    readonly_fields = fields
    verbose_name_plural = "History"
    max_num = 0
    ordering = ("-at", "-id")

    @admin.display(description="by")
    def who(self, obj):
        # the bind job acts for nobody: the platform's answer moved the channel
        if obj.by is not None:
            return obj.by
        return "mktops (the platform's answer)" if obj.from_state == ChannelState.BINDING else "—"


# --- the admin -----------------------------------------------------------------------------------
@admin.register(Channel)
class ChannelAdmin(TenantScopedAdmin):
    form = ChannelEditForm
    list_display = ("name", "public_id", "type_label", "state_label", "health_label", "account_id", "tenant")
    list_filter = ("tenant", "channel_type", "state")
    search_fields = ("name", "public_id", "account_id")
    secret_fields = ("credentials",)
    inlines = [HistoryInline]
    change_form_template = "admin/channels/channel/change_form.html"
    info_fields = ("public_id", "type_label", "state_panel", "health_panel", "type_panel", "binding_panel",
                   "failure_panel", "tenant", "created_at")
    readonly_fields = info_fields

    def get_fieldsets(self, request, obj=None):
        return [(None, {"fields": ("name", "remarks")}), ("Channel", {"fields": self.info_fields})]

    def get_changelist(self, request, **kwargs):
        return ChannelChangeList

    def get_list_display(self, request):
        # the tenant column only for who sees several tenants (CSMs): the table fits the page
        shown = list(super().get_list_display(request))
        if not roles.is_csm(request.user) and len(roles.tenant_ids(request.user)) < 2:
            shown.remove("tenant")
        return shown

    def get_actions(self, request):
        # deleting goes through the typed-name page, one Unbound channel at a time
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def save_model(self, request, obj, form, change):
        svc.channel_edit(channel=Channel.objects.get(pk=obj.pk), name=form.cleaned_data["name"],
                         remarks=form.cleaned_data["remarks"], by=request.user)
        obj.refresh_from_db()

    def delete_model(self, request, obj):
        # never reached from the pages (delete_view is ours, the bulk action is gone): a delete
        # without the typed name is refused whatever the state
        raise PermissionDenied(svc.ERR_DELETE_CONFIRM.format(name=obj.name))

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    # --- columns and panels ----------------------------------------------------------------------
    @admin.display(description="channel type", ordering="channel_type")
    def type_label(self, obj):
        return obj.get_channel_type_display()

    @admin.display(description="state", ordering="state")
    def state_label(self, obj):
        return format_html("<span class='channel-state channel-state-{}'>{}</span>", obj.state,
                           obj.get_state_display())

    @admin.display(description="health")
    def health_label(self, obj):
        # the platform half's summary (channels.health): highlighted when there is something to look at
        return health_column(obj)

    @admin.display(description="health")
    def health_panel(self, obj):
        return health_column(obj)

    @admin.display(description="state")
    def state_panel(self, obj):
        line = format_html("<strong id='channel-state' class='channel-state-{}'>{}</strong>", obj.state,
                           obj.get_state_display())
        if obj.state == ChannelState.UNBOUND:
            return format_html("{} · cannot send until it is bound.", line)
        job = obj.bind_jobs.filter(generation=obj.bind_generation).first()
        if obj.state == ChannelState.BINDING and job is not None and job.status in ACTIVE:
            waiting = ""
            if job.last_error:
                waiting = format_html(" <span id='bind-waiting'>The last attempt could not reach the platform: "
                                      "{} Next attempt at {} UTC.</span>", job.last_error,
                                      job.next_attempt_at.strftime("%Y-%m-%d %H:%M:%S") if job.next_attempt_at
                                      else "—")
            return format_html("{} · asking the platform (attempt {}).{}", line, job.attempts, waiting)
        if obj.state == ChannelState.BOUND and obj.bound_at:
            return format_html("{} since {} UTC.", line, obj.bound_at.strftime("%Y-%m-%d %H:%M"))
        return line

    @admin.display(description="bound resource and prerequisite")
    def type_panel(self, obj):
        info = CHANNEL_TYPES[obj.channel_type]
        return format_html("Binds to {}. Prerequisite: {}", info.bound_resource, info.prerequisite or "none.")

    @admin.display(description="binding")
    def binding_panel(self, obj):
        if not obj.credentials and not obj.account_id:
            return "—"
        details = format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", (
            (k.replace("_", " "), v) for k, v in obj.account_details.items()))
        rows = [("platform account", obj.account_id or "—")]
        if obj.token_expires_at:
            rows.append(("token expires", obj.token_expires_at.strftime("%Y-%m-%d %H:%M UTC")))
        if obj.granted_scopes:
            rows.append(("granted permissions", ", ".join(obj.granted_scopes)))
        return format_html("<table id='channel-binding'>{}{}</table>", details,
                           format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows))

    def credential_rows(self, request, obj) -> list[tuple[str, str]]:
        """The identity as typed; secrets masked, and only for the tenant's operators (support: absent)."""
        if not obj.credentials:
            return []
        specs = adapter_for(obj.channel_type).identity_fields
        values = json.loads(obj.credentials)
        operator = roles.is_operator_of(request.user, obj.tenant_id)
        rows = []
        for spec in specs:
            if spec.secret and not operator:
                continue
            value = values.get(spec.name, "")
            rows.append((spec.label, mask(value) if spec.secret else value or "—"))
        return rows

    @admin.display(description="why the bind failed")
    def failure_panel(self, obj):
        if obj.state != ChannelState.BIND_FAILED:
            return "—"
        checklist = format_html_join("", "<li>{}</li>", ((item,) for item in troubleshooting_checklist(channel=obj)))
        return format_html("<p id='bind-failure'>{}</p><p>Check, then bind again:</p><ul id='bind-checklist'>{}</ul>",
                           obj.failure_message, checklist)

    def changelist_view(self, request, extra_context=None):
        return super().changelist_view(request, {**(extra_context or {}), "app_menu_name": app_menu_name(request)})

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["app_menu_name"] = app_menu_name(request)
        if obj is not None:
            may_change = self.has_change_permission(request, obj)
            context.update(
                may_bind=may_change and svc.binding_refusal(channel=obj, rebind=False) is None,
                may_rebind=may_change and obj.state == ChannelState.BOUND,
                may_unbind=roles.is_csm(request.user) and obj.state != ChannelState.UNBOUND,
                may_delete=may_change, platform_links=self.platform_links(obj),
                credential_rows=self.credential_rows(request, obj))
        return super().render_change_form(request, context, add, change, form_url, obj)

    def platform_links(self, obj) -> list[tuple[str, str, str]]:
        links = []
        for name, label in PLATFORM_PAGES:
            try:
                links.append((name, label, reverse(f"admin:{name}", args=[obj.pk])))
            except NoReverseMatch:
                continue
        return links

    # --- pages -----------------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        secret = sensitive_post_parameters()
        return [
            path("<path:object_id>/bind/", view(secret(self.bind_view)), name="channels_channel_bind"),
            path("<path:object_id>/rebind/", view(secret(self.rebind_view)), name="channels_channel_rebind"),
            path("<path:object_id>/unbind/", view(self.unbind_view), name="channels_channel_unbind"),
            *channel_urls(self),
            *super().get_urls(),
        ]

    def _context(self, request, obj, title, **extra):
        return {**self.admin_site.each_context(request), "opts": self.opts, "original": obj, "title": title,
                "app_menu_name": app_menu_name(request),
                "change_url": reverse("admin:channels_channel_change", args=[obj.pk]), **extra}

    def _back(self, obj):
        return HttpResponseRedirect(reverse("admin:channels_channel_change", args=[obj.pk]))

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        tenants = self.operated_tenants(request)
        form = ChannelCreateForm(request.POST if request.method == "POST" else None, tenants=tenants)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                channel = svc.channel_create(
                    tenant=data["tenant"], channel_type=data["channel_type"], name=data["name"],
                    remarks=data["remarks"], prerequisite_confirmed=data["prerequisite_confirmed"], by=request.user)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                self.log_addition(request, channel, "Created.")
                self.message_user(request, f"Channel \"{channel.name}\" created. It is Unbound: bind it to send.")
                return self._back(channel)
        types = [(code, info.label, info.bound_resource, info.prerequisite) for code, info in CHANNEL_TYPES.items()]
        quotas = [(t.name, t.n, t.channel_quota) for t in tenants.annotate(n=Count("channels"))[:20]]
        return TemplateResponse(request, "admin/channels/channel/create.html", {
            "quotas": quotas,
            **self.admin_site.each_context(request), "opts": self.opts, "title": "Create channel", "form": form,
            "app_menu_name": app_menu_name(request),
            "types": types, "chosen": form["channel_type"].value() or ""})

    @object_view(level=CHANGE)
    def bind_view(self, request, obj):
        return self._binding_page(request, obj, rebind=False)

    @object_view(level=CHANGE)
    def rebind_view(self, request, obj):
        return self._binding_page(request, obj, rebind=True)

    def _binding_page(self, request, obj, *, rebind: bool):
        form_class = bind_form_class(obj.channel_type)
        form = form_class(request.POST if request.method == "POST" else None)
        refused = svc.binding_refusal(channel=obj, rebind=rebind)
        if request.method == "POST" and refused is None and form.is_valid():
            action = svc.channel_rebind if rebind else svc.channel_bind
            try:
                action(channel=obj, credentials=form.cleaned_data, by=request.user)
            except ValidationError as exc:
                _add_errors(form, exc)
            else:
                self.log_change(request, obj, "Rebind requested." if rebind else "Bind requested.")
                self.message_user(request, "Binding: mktops is asking the platform; this page shows the outcome.")
                return self._back(obj)
        verb = "Rebind" if rebind else "Bind"
        return TemplateResponse(request, "admin/channels/channel/bind.html", self._context(
            request, obj, f"{verb} channel — {obj}", form=form, rebind=rebind, refused=refused,
            info=obj.type_info))

    @object_view(level=CSM)
    def unbind_view(self, request, obj):
        error = None
        if request.method == "POST":
            try:
                svc.channel_unbind(channel=obj, by=request.user, reason=request.POST.get("reason", ""))
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                self.log_change(request, obj, "Unbound.")
                self.message_user(request, "Unbound: the channel cannot send; its tenant may delete it now.")
                return self._back(obj)
        return TemplateResponse(request, "admin/channels/channel/unbind.html", self._context(
            request, obj, f"Unbind channel — {obj}", usage=channel_usage(channel=obj), days=USAGE_DAYS,
            error=error, reason=request.POST.get("reason", "")))

    def delete_view(self, request, object_id, extra_context=None):
        obj = self.object_for(request, object_id, level=CHANGE)
        refused = error = None
        try:
            svc.channel_check_delete(channel=obj)
        except ValidationError as exc:
            refused = " ".join(exc.messages)
        if request.method == "POST" and refused is None:
            try:
                svc.channel_delete(channel=obj, confirm_name=request.POST.get("confirm_name", ""), by=request.user)
            except ValidationError as exc:
                error = " ".join(exc.messages)
            else:
                self.log_deletions(request, [obj])
                self.message_user(request, f"Channel \"{obj.name}\" deleted.")
                return HttpResponseRedirect(reverse("admin:channels_channel_changelist"))
        return TemplateResponse(request, "admin/channels/channel/delete.html", self._context(
            request, obj, f"Delete channel — {obj}", refused=refused, error=error), status=200)
