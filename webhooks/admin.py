"""Webhooks admin pages: endpoints (pause, resume, delete, reveal and rotate the secret, send a
test, recover failed deliveries) and the delivery log. Thin: parse, check the role, call
webhooks.services, render."""

from __future__ import annotations

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.dateparse import parse_datetime
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timezone import is_naive, make_aware

from mktops import roles
from mktops.admin_base import CHANGE, VIEW, ReadOnlyInline, TenantScopedAdmin, object_view
from mktops.crypto import mask
from webhooks.models import EVENT_TYPE_CHOICES, EVENT_TYPES, ZONES, Attempt, Endpoint, EndpointStatus, Message, Outcome
from webhooks.services import delivery, health
from webhooks.services import endpoints as svc
from webhooks.services.signature_check import signature_check

# what new_webhook_id makes
WEBHOOK_ID = re.compile(r"msg_[0-9a-f]{32}")

ERR_SINCE = "Give the time to recover from as YYYY-MM-DD HH:MM (UTC)."


def _event_type_label(code: str, zone: int, when: str, bought: bool | None):
    """One checkbox's text: the type as the receiver sees it, its zone, and when it is sent."""
    state = "" if bought is None else (" · bought" if bought else " · not bought")
    return format_html("<code class='webhook-type'>{}</code> <span class='webhook-zone'>zone {}{}</span> "
                       "<span class='webhook-when'>when {}</span>", code, zone, state, when)


class EndpointForm(forms.ModelForm):
    url = forms.URLField(label="URL", max_length=2000, assume_scheme="https",
                         widget=forms.URLInput(attrs={"class": "vURLField webhook-url",
                                                      "placeholder": "https://crm.example.com/hooks/mktops"}))
    event_types = forms.MultipleChoiceField(choices=EVENT_TYPE_CHOICES, required=False,
                                            widget=forms.CheckboxSelectMultiple(attrs={"class": "webhook-types"}))

    class Meta:
        model = Endpoint
        fields = ("tenant", "name", "url", "event_types")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["event_types"].help_text = "Only the types of the webhook zones the tenant bought can be chosen."
        # on an existing endpoint the tenant is known: say which zones it bought
        tenant = self.instance.tenant if self.instance.pk else None
        self.fields["event_types"].choices = [
            (code, _event_type_label(code, zone, when, None if tenant is None
                                     else svc.zone_is_active(tenant=tenant, zone=zone)))
            for code, (zone, when) in EVENT_TYPES.items()]

    def _post_clean(self):
        super()._post_clean()
        if self.errors:
            return
        tenant = self.cleaned_data.get("tenant") or self.instance.tenant
        try:
            svc.endpoint_check(tenant=tenant, name=self.cleaned_data["name"], url=self.cleaned_data["url"],
                               event_types=self.cleaned_data["event_types"],
                               endpoint=self.instance if self.instance.pk else None)
        except ValidationError as exc:
            for name, field_messages in exc.message_dict.items():
                for message in field_messages:
                    self.add_error(name if name in self.fields else None, message)


class AttemptInline(ReadOnlyInline):
    model = Attempt
    fk_name = "message"
    fields = ("number", "at", "outcome", "http_status", "latency_ms", "error", "response_excerpt")
    readonly_fields = fields
    ordering = ("at", "pk")


@admin.register(Endpoint)
class EndpointAdmin(TenantScopedAdmin):
    form = EndpointForm
    # status, backlog and warning in one column: beside the filters the table has little width
    list_display = ("name", "tenant", "url", "types", "state")
    change_list_template = "admin/webhooks/endpoint/change_list.html"
    list_filter = ("tenant", "status")
    search_fields = ("name", "url")
    change_form_template = "admin/webhooks/endpoint/change_form.html"
    info_fields = ("status_line", "running_state", "secret_panel", "reveal_list", "health_panel")

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        # the tenant column says nothing to someone who sees one tenant, and the table needs the room
        if not roles.is_csm(request.user) and len(roles.tenant_ids(request.user)) <= 1:
            shown = [f for f in shown if f != "tenant"]
        return shown

    def get_fieldsets(self, request, obj=None):
        editable = (None, {"fields": ("tenant", "name", "url", "event_types")})
        if obj is None:
            return [editable]
        return [editable, ("State", {"fields": self.info_fields})]

    def get_readonly_fields(self, request, obj=None):
        return ("tenant", *self.info_fields) if obj is not None else ()

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        if change:
            svc.endpoint_update(endpoint=Endpoint.objects.get(pk=obj.pk), name=data["name"], url=data["url"],
                                event_types=data["event_types"], by=request.user)
            obj.refresh_from_db()
            return
        created = svc.endpoint_create(tenant=data["tenant"], name=data["name"], url=data["url"],
                                      event_types=data["event_types"], by=request.user)
        obj.pk, obj.secret, obj.event_types, obj.created_at = created.pk, created.secret, created.event_types, \
            created.created_at
        obj._state.adding = False

    def delete_model(self, request, obj):
        svc.endpoint_delete(endpoint=obj, by=request.user)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            svc.endpoint_delete(endpoint=obj, by=request.user)

    # --- columns and panels ---------------------------------------------------------
    @admin.display(description="event types")
    def types(self, obj):
        # one a line: the names are long and the column is narrow beside the filters
        return format_html_join(mark_safe("<br>"), "{}", ((t,) for t in obj.event_types))  # noqa: S308

    @admin.display(description="undelivered")
    def backlog(self, obj):
        return svc.backlog_size(endpoint=obj)

    @admin.display(description="state", ordering="status")
    def state(self, obj):
        warning = self.warning(obj)
        return format_html("{} · {} undelivered{}", obj.get_status_display(), self.backlog(obj),
                           format_html("<br>{}", warning) if warning else "")

    @admin.display(description="warning")
    def warning(self, obj):
        when = delivery.disable_warning(endpoint=obj)
        if obj.status == EndpointStatus.DISABLED:
            return format_html("<span class='webhook-disabled'>Disabled: {}</span>", obj.status_reason)
        if when is None:
            return ""
        return format_html("<span class='webhook-warning'>Failing; disabled at {} UTC unless a delivery "
                           "succeeds before</span>", when.strftime("%Y-%m-%d %H:%M"))

    @admin.display(description="status")
    def status_line(self, obj):
        backlog = svc.backlog_size(endpoint=obj)
        return format_html("<span id='endpoint-status'>{}</span>{} · {} undelivered {}", obj.get_status_display(),
                           f": {obj.status_reason}" if obj.status_reason else "", backlog, self.warning(obj))

    @admin.display(description="running state")
    def running_state(self, obj):
        t = obj.tenant
        rows = []
        for zone in ZONES:
            start = getattr(t, f"webhook_zone{zone}_purchase_start")
            end = getattr(t, f"webhook_zone{zone}_purchase_end")
            addon = getattr(t, f"webhook_zone{zone}_addon_end")
            rows.append((f"zone {zone}", "bought" if svc.zone_is_active(tenant=t, zone=zone) else "not bought",
                         f"{start or '—'} to {end or '—'}", addon or "—"))
        subscriptions = format_html_join("", "<li>{}: {}</li>", (
            (e.name, ", ".join(e.event_types) or "—") for e in Endpoint.objects.filter(tenant=t)))
        return format_html(
            "<table id='running-state'><tr><th>zone</th><th>state</th><th>purchase period</th><th>add-on until</th>"
            "</tr>{}</table><p>Event subscriptions per endpoint ({} of {} endpoints):</p><ul>{}</ul>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", rows),
            Endpoint.objects.filter(tenant=t).count(), t.webhook_endpoint_quota, subscriptions)

    @admin.display(description="secret")
    def secret_panel(self, obj):
        overlap = ""
        if obj.previous_secret and obj.previous_secret_until:
            overlap = f" The previous secret signs too until {obj.previous_secret_until:%Y-%m-%d %H:%M} UTC."
        return format_html("<code id='secret-masked'>{}</code>{}", mask(obj.secret), overlap)

    @admin.display(description="secret reveals")
    def reveal_list(self, obj):
        rows = obj.reveals.select_related("user")[:20]
        if not rows:
            return "Never revealed."
        return format_html("<ul id='reveals'>{}</ul>", format_html_join(
            "", "<li>{} UTC by {}</li>", ((r.at.strftime("%Y-%m-%d %H:%M"), r.user or "—") for r in rows)))

    @admin.display(description="health (24 hours)")
    def health_panel(self, obj):
        h = health.endpoint_health(endpoint=obj)
        rate = f"{h.success_rate:.0%}" if h.success_rate is not None else "—"
        oldest = str(h.oldest_undelivered).split(".")[0] if h.oldest_undelivered else "none"
        outcomes = ", ".join(f"{Outcome(k).label.lower()} {v}" for k, v in sorted(h.by_outcome.items())) \
            or "no attempts"
        summary = format_html("<span id='health'>Success rate {} of {} attempt(s); p95 latency {}; oldest "
                              "undelivered message {}; by outcome: {}</span>", rate, h.attempts,
                              f"{h.p95_latency_ms} ms" if h.p95_latency_ms is not None else "—", oldest, outcomes)
        return format_html("{}{}", summary, _hourly_chart(h.by_hour))

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context.update(may_change=self.has_change_permission(request, obj),
                           may_reveal=svc.may_reveal(user=request.user, endpoint=obj),
                           event_types=list(EVENT_TYPES), is_paused=obj.status != EndpointStatus.ACTIVE)
        return super().render_change_form(request, context, add, change, form_url, obj)

    # --- actions --------------------------------------------------------------------------
    def get_urls(self):
        view = self.admin_site.admin_view
        names = ("pause", "resume", "reveal", "rotate", "test", "recover", "check")
        return [*(path(f"<path:object_id>/{n}/", view(getattr(self, f"{n}_view")), name=f"webhooks_endpoint_{n}")
                  for n in names), *super().get_urls()]

    def _back(self, obj):
        return HttpResponseRedirect(reverse("admin:webhooks_endpoint_change", args=[obj.pk]))

    @object_view(level=CHANGE, post_only=True)
    def pause_view(self, request, obj):
        svc.endpoint_pause(endpoint=obj, by=request.user)
        self.log_change(request, obj, "Paused.")
        self.message_user(request, "Paused: events that arrive are kept and delivered on resume.")
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def resume_view(self, request, obj):
        backlog = svc.endpoint_resume(endpoint=obj, by=request.user)
        self.log_change(request, obj, f"Resumed; {backlog} kept message(s) to deliver.")
        self.message_user(request, f"Resumed: delivering {backlog} kept message(s) in order.")
        return self._back(obj)

    @object_view(level=CHANGE, post_only=True)
    def reveal_view(self, request, obj):
        if not svc.may_reveal(user=request.user, endpoint=obj):
            raise PermissionDenied
        secret = svc.secret_reveal(endpoint=obj, by=request.user)
        self.log_change(request, obj, "Secret revealed.")
        response = TemplateResponse(request, "admin/webhooks/endpoint/secret.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Signing secret — {obj}", "secret": secret})
        response["Cache-Control"] = "no-store"
        return response

    @object_view(level=CHANGE, post_only=True)
    def rotate_view(self, request, obj):
        keep = request.POST.get("keep_old") == "1"
        svc.secret_rotate(endpoint=obj, by=request.user, keep_old_for_24h=keep)
        self.log_change(request, obj, "Secret rotated" + (" (old one signs for 24 hours)." if keep else "."))
        self.message_user(request, "New secret made; the old one " +
                          ("keeps signing alongside for 24 hours." if keep else "stopped at once."))
        return self._back(obj)

    @object_view(level=CHANGE)
    def test_view(self, request, obj):
        attempt = error = None
        if request.method == "POST":
            try:
                attempt = delivery.endpoint_send_test(endpoint=obj, event_type=request.POST.get("event_type", ""),
                                                      by=request.user)
                self.log_change(request, obj, f"Test sent: {attempt.get_outcome_display()}.")
            except ValidationError as exc:
                error = " ".join(exc.messages)
        return TemplateResponse(request, "admin/webhooks/endpoint/test.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Send a test — {obj}", "event_types": list(EVENT_TYPES), "attempt": attempt,
            "error": error, "chosen": request.POST.get("event_type", "")})

    # an oracle for the secret is the secret's business: operators only, like the secret itself
    @object_view(level=CHANGE)
    def check_view(self, request, obj):
        result = None
        if request.method == "POST":
            result = signature_check(endpoint=obj, headers_text=request.POST.get("headers", ""),
                                     body=request.POST.get("body", ""))
            self.log_change(request, obj, f"Signature check: {result.reason}.")
        return TemplateResponse(request, "admin/webhooks/endpoint/check.html", {
            **self.admin_site.each_context(request), "opts": self.opts, "original": obj,
            "title": f"Check a signature — {obj}", "result": result,
            "headers": request.POST.get("headers", ""), "body": request.POST.get("body", "")})

    @object_view(level=CHANGE, post_only=True)
    def recover_view(self, request, obj):
        since = parse_datetime(request.POST.get("since", "").strip().replace(" ", "T"))
        if since is None:
            self.message_user(request, ERR_SINCE, messages.ERROR)
            return self._back(obj)
        since = make_aware(since) if is_naive(since) else since
        count = delivery.messages_recover(endpoint=obj, since=since, by=request.user)
        self.log_change(request, obj, f"Recovery of {count} failed message(s) since {since:%Y-%m-%d %H:%M} requested.")
        self.message_user(request, f"Delivering {count} failed message(s) again.")
        return self._back(obj)


def _hourly_chart(by_hour) -> str:
    """Deliveries by outcome per hour as bars (delivered green, failed red), no script."""
    top = max([ok + failed for _, ok, failed in by_hour] + [1])
    bars = format_html_join("", (
        "<div title='{} UTC: {} delivered, {} failed' style='display:flex;flex-direction:column-reverse;"
        "width:10px;height:60px;margin-right:2px;background:#eee'>"
        "<div style='height:{}%;background:#2e7d32'></div><div style='height:{}%;background:#c62828'></div></div>"),
        ((start.strftime("%H:00"), ok, failed, ok * 100 // top, failed * 100 // top) for start, ok, failed in by_hour))
    return format_html("<div id='health-chart' style='display:flex;align-items:flex-end;margin-top:6px'>{}</div>"
                       "<small>Last 24 hours, one bar an hour: delivered (green), failed (red).</small>", bars)


@admin.register(Message)
class MessageAdmin(TenantScopedAdmin):
    """The delivery log: read-only; operators resend one message."""

    read_only = True
    list_display = ("created_at", "endpoint", "event_type", "status", "attempts", "next_attempt_at", "webhook_id",
                    "is_test")
    list_filter = ("tenant", "status", "event_type", "is_test")
    search_fields = ("webhook_id",)
    fields = ("endpoint", "event_type", "webhook_id", "status", "attempts", "next_attempt_at", "last_error",
              "created_at", "finished_at", "is_test", "body")
    readonly_fields = fields

    inlines = [AttemptInline]
    change_form_template = "admin/webhooks/message/change_form.html"

    def get_search_results(self, request, queryset, search_term):
        # a whole webhook-id, as a receiver logged it, through its unique index; a part of one
        # by the default search, which reads every row
        term = search_term.strip()
        if WEBHOOK_ID.fullmatch(term):
            return self.scope(request, queryset.filter(webhook_id=term)), False
        return super().get_search_results(request, queryset, search_term)

    def get_urls(self):
        view = self.admin_site.admin_view
        return [path("<path:object_id>/resend/", view(self.resend_view), name="webhooks_message_resend"),
                *super().get_urls()]

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            context["may_resend"] = roles.is_operator_of(request.user, obj.tenant_id) and not obj.is_test
        return super().render_change_form(request, context, add, change, form_url, obj)

    @object_view(level=VIEW, post_only=True)
    def resend_view(self, request, obj):
        # the log is read-only for everyone; resending is an operator's action on the endpoint
        if not roles.is_operator_of(request.user, obj.tenant_id) or obj.is_test:
            raise PermissionDenied
        try:
            delivery.message_resend(message=obj, by=request.user)
            self.log_change(request, obj, "Resend requested.")
            self.message_user(request, "The message will be delivered again, with the same webhook-id.")
        except ValidationError as exc:
            self.message_user(request, " ".join(exc.messages), messages.ERROR)
        return HttpResponseRedirect(reverse("admin:webhooks_message_change", args=[obj.pk]))
