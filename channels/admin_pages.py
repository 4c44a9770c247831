"""The channel pages of the platform half: health, data report, send test message.

`channel_urls(model_admin)` gives their URL patterns; the lifecycle's `ChannelAdmin.get_urls`
includes them, and the channel page links to each name that resolves. Each view goes through the
admin's `object_view` (403 for who may not use the admin, 404 outside the user's tenants, then the
level): health and report are VIEW (support included), the test send is CHANGE (operators, CSMs).
Thin: parse, call channels.health / report / sending, render.
"""

from __future__ import annotations

import functools

from django.contrib import messages
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from channels.health import (
    ALERT_AFTER,
    CHECK_EVERY,
    MSG_CHECK_REQUESTED,
    MSG_CHECK_WAITING,
    TOKEN_WARNING,
    health_check_now,
    health_history,
    health_summaries,
    health_summary,
)
from channels.providers import adapter_for
from channels.report import METRIC_LABELS, WINDOWS, channel_report, report_chart
from channels.sending import TEXT_MAX, channel_test_send, recent_test_sends
from channels.services.menu import CHANNEL_MANAGEMENT, menu_name
from mktops.admin_base import CHANGE, VIEW, object_view


def channel_urls(model_admin) -> list:
    def page(method):
        return model_admin.admin_site.admin_view(functools.partial(method, model_admin))

    return [
        path("<path:object_id>/health/", page(health_view), name="channels_channel_health"),
        path("<path:object_id>/health/check/", page(health_check_view), name="channels_channel_health_check"),
        path("<path:object_id>/report/", page(report_view), name="channels_channel_report"),
        path("<path:object_id>/test-send/", page(test_send_view), name="channels_channel_test_send"),
    ]


def _context(model_admin, request, obj, title: str, **extra) -> dict:
    return {**model_admin.admin_site.each_context(request), "opts": model_admin.opts, "original": obj,
            "title": title, "app_menu_name": menu_name(request) or CHANNEL_MANAGEMENT,
            "change_url": reverse("admin:channels_channel_change", args=[obj.pk]),
            "may_change": model_admin.has_change_permission(request, obj), **extra}


@object_view(level=VIEW)
def health_view(model_admin, request, obj):
    return TemplateResponse(request, "channels/health.html", _context(
        model_admin, request, obj, f"Health — {obj}", summary=health_summary(obj),
        checks=health_history(channel=obj), check_every_minutes=int(CHECK_EVERY.total_seconds() // 60),
        alert_after=ALERT_AFTER, token_warning_days=TOKEN_WARNING.days, is_whatsapp=obj.channel_type == "whatsapp"))


@object_view(level=CHANGE, post_only=True)
def health_check_view(model_admin, request, obj):
    try:
        check = health_check_now(channel=obj, by=request.user)
    except ValidationError as exc:
        model_admin.message_user(request, " ".join(exc.messages), level=messages.ERROR)
    else:
        model_admin.log_change(request, obj, "Health check requested.")
        model_admin.message_user(request, MSG_CHECK_REQUESTED if check else MSG_CHECK_WAITING)
    return HttpResponseRedirect(reverse("admin:channels_channel_health", args=[obj.pk]))


@object_view(level=VIEW)
def report_view(model_admin, request, obj):
    report = channel_report(channel=obj)
    metrics = [m for m in METRIC_LABELS if m != "opened" or report.has_opened]
    rows = [(METRIC_LABELS[m], *[(report.totals[w][m], report.rate(w, m) if m != "sent" else "") for w in WINDOWS])
            for m in metrics]
    daily = [(day, [report.daily[m][i] for m in metrics]) for i, day in reversed(list(enumerate(report.days)))]
    return TemplateResponse(request, "channels/report.html", _context(
        model_admin, request, obj, f"Data report — {obj}", report=report, chart=report_chart(report), rows=rows,
        windows=WINDOWS, metric_labels=[METRIC_LABELS[m] for m in metrics], daily=daily))


@object_view(level=CHANGE)
def test_send_view(model_admin, request, obj):
    adapter = adapter_for(obj.channel_type)
    errors: dict[str, list[str]] = {}
    values = {"to": request.POST.get("to", ""), "text": request.POST.get("text", "")}
    if request.method == "POST":
        try:
            row = channel_test_send(channel=obj, to=values["to"], text=values["text"], by=request.user)
        except ValidationError as exc:
            errors = exc.message_dict
        else:
            model_admin.log_change(request, obj, f"Test message sent to {row.to}: "
                                                 f"{'accepted' if row.ok else 'not sent'}.")
            level = messages.SUCCESS if row.ok else messages.ERROR
            model_admin.message_user(request, row.message, level=level)
            return HttpResponseRedirect(reverse("admin:channels_channel_test_send", args=[obj.pk]))
    return TemplateResponse(request, "channels/test_send.html", _context(
        model_admin, request, obj, f"Send test message — {obj}", adapter=adapter, values=values,
        to_errors=errors.get("to", []), text_errors=errors.get("text", []),
        other_errors=[m for k, v in errors.items() if k not in ("to", "text") for m in v],
        sends=recent_test_sends(channel=obj), text_max=TEXT_MAX, can_send=obj.can_send))


def health_column(obj) -> str:
    """The changelist's health cell: the state, the first thing to look at, a link to the page."""
    if obj.state != "bound":
        return "—"
    # the changelist reads every row's summary at once (ChannelChangeList)
    summary = getattr(obj, "health_summary", None) or health_summary(obj)
    first = summary["highlights"][0] if summary["highlights"] else ""
    return format_html(
        '<span style="display:inline-block;min-width:14em"><a href="{}" class="channel-health channel-health-{}{}" '
        'title="{}">{}</a>{}</span>',
        reverse("admin:channels_channel_health", args=[obj.pk]), summary["state"],
        " channel-health-highlighted" if summary["highlighted"] else "", summary["message"],
        "⚠ " + summary["label"] if summary["highlighted"] else summary["label"],
        format_html('<br><small class="channel-health-note">{}</small>', first) if first else "")


class ChannelChangeList(ChangeList):
    """The changelist page's rows, each with its health summary read in one query for the page."""

    def get_results(self, request):
        super().get_results(request)
        summaries = health_summaries(self.result_list)
        for channel in self.result_list:
            channel.health_summary = summaries[channel.pk]
