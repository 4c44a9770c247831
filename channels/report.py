"""The data report of a channel: sent, delivered, failed and opened over the last 7 and 30 days.

Counted from the ingested events attributed to the channel (`event_attributes.channel_id` = the
channel's public id), by event name: each channel type's names for the four figures are data here
(`EVENT_NAMES`). Days are UTC calendar days: "the last 7 days" are today and the six before, so the
table and the chart count the same events. The chart is an SVG drawn here (no script, no CDN).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from channels.models import Channel
from mktops import clock
from mktops.models import Event

METRICS = ("sent", "delivered", "failed", "opened")
METRIC_LABELS = {"sent": "Sent", "delivered": "Delivered", "failed": "Failed", "opened": "Opened"}
COLOURS = {"sent": "#417690", "delivered": "#2e7d32", "failed": "#c62828", "opened": "#f9a825"}
WINDOWS = (7, 30)


def _names(label: str, *, opened: tuple[str, ...]) -> dict[str, tuple[str, ...]]:
    return {"sent": (f"{label} Sent",), "delivered": (f"{label} Delivered",),
            "failed": (f"{label} Failed", f"{label} Undelivered"), "opened": opened}


# which event names count as which figure, per channel type
EVENT_NAMES: dict[str, dict[str, tuple[str, ...]]] = {
    "email": {"sent": ("Email Sent",), "delivered": ("Email Delivered",),
              "failed": ("Email Bounced", "Email Hard Bounced", "Email Soft Bounced", "Email Dropped",
                         "Email Failed"),
              "opened": ("Email Opened",)},
    "sms": _names("SMS", opened=()),
    "whatsapp": _names("WhatsApp", opened=("WhatsApp Read",)),
    "viber": _names("Viber", opened=("Viber Seen", "Viber Read")),
    "messenger": _names("Messenger", opened=("Messenger Read",)),
    "instagram": _names("Instagram", opened=("Instagram Read",)),
}


@dataclass(frozen=True)
class ChannelReport:
    days: list[date]  # oldest first, the last 30
    daily: dict[str, list[int]]  # metric -> counts per day, aligned with `days`
    totals: dict[int, dict[str, int]]  # window (7, 30) -> metric -> count
    has_opened: bool  # the channel type reports opens (SMS does not)

    def rate(self, window: int, metric: str) -> str:
        """The metric as a share of sent in the window ("—" when nothing was sent)."""
        sent = self.totals[window]["sent"]
        return f"{100 * self.totals[window][metric] / sent:.1f} %" if sent else "—"


def channel_report(*, channel: Channel, now: datetime | None = None) -> ChannelReport:
    now = now or clock.now()
    today = now.astimezone(UTC).date()
    days = [today - timedelta(days=n) for n in range(max(WINDOWS) - 1, -1, -1)]
    since = datetime.combine(days[0], time.min, tzinfo=UTC)
    names = EVENT_NAMES[channel.channel_type]
    metric_of = {name: metric for metric, metric_names in names.items() for name in metric_names}
    rows = (Event.objects.filter(tenant_id=channel.tenant_id, event_time__gte=since, event_time__lte=now,
                                 event_name__in=list(metric_of),
                                 event_attributes__channel_id=channel.public_id)
            .annotate(day=TruncDate("event_time", tzinfo=UTC)).values("day", "event_name").annotate(n=Count("id")))
    index = {day: i for i, day in enumerate(days)}
    daily = {metric: [0] * len(days) for metric in METRICS}
    for row in rows:
        day = row["day"]
        if isinstance(day, datetime):
            day = day.date()
        if day in index:
            daily[metric_of[row["event_name"]]][index[day]] += row["n"]
    totals = {window: {metric: sum(daily[metric][-window:]) for metric in METRICS} for window in WINDOWS}
    return ChannelReport(days=days, daily=daily, totals=totals, has_opened=bool(names["opened"]))


# --- the chart -----------------------------------------------------------------------------------
WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 16, 44


def _nice_top(value: int) -> int:
    """The y axis' top: 1, 2 or 5 times a power of ten, at least `value` (and at least 4)."""
    if value <= 4:
        return 4
    magnitude = 10 ** (len(str(value)) - 1)
    return next(f * magnitude for f in (1, 2, 5, 10) if f * magnitude >= value)


def report_chart(report: ChannelReport) -> SafeString:
    """An SVG line chart of the four figures per day over the last 30 days."""
    metrics = [m for m in METRICS if m != "opened" or report.has_opened]
    peak = max([max(report.daily[m]) for m in metrics] + [0])
    top = _nice_top(peak)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(1, len(report.days) - 1)

    def x(i: int) -> float:
        return LEFT + i * step

    def y(value: int) -> float:
        return TOP + plot_h - plot_h * value / top

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" '
             f'role="img" aria-labelledby="chart-title" class="channel-report-chart">',
             '<title id="chart-title">Sent, delivered, failed and opened per day, last 30 days (UTC)</title>',
             f'<rect x="0" y="0" width="{WIDTH}" height="{HEIGHT}" fill="#fff"/>']
    for k in range(5):  # horizontal grid lines and their values
        value = top * k // 4
        parts.append(f'<line x1="{LEFT}" y1="{y(value):.1f}" x2="{WIDTH - RIGHT}" y2="{y(value):.1f}" '
                     f'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="#666">{value}</text>')
    for i, day in enumerate(report.days):  # a date every 5 days, and the last one
        if i % 5 == 0 or i == len(report.days) - 1:
            parts.append(f'<text x="{x(i):.1f}" y="{HEIGHT - BOTTOM + 16}" text-anchor="middle" font-size="11" '
                         f'fill="#666">{day:%m-%d}</text>')
    for metric in metrics:
        points = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(report.daily[metric]))
        parts.append(f'<polyline data-metric="{metric}" fill="none" stroke="{COLOURS[metric]}" stroke-width="2" '
                     f'points="{points}"/>')
    for n, metric in enumerate(metrics):  # the legend
        lx = LEFT + n * 120
        parts.append(f'<rect x="{lx}" y="{HEIGHT - 16}" width="12" height="4" fill="{COLOURS[metric]}"/>')
        parts.append(f'<text x="{lx + 18}" y="{HEIGHT - 11}" font-size="12" fill="#333">'
                     f'{escape(METRIC_LABELS[metric])}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - built here from numbers, dates and our labels only
