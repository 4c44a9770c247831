"""The quarantine's reports: per delivery, bounces by recipient domain and error type, what a
contact's addresses and deliveries look like, and the projection of the quarantined share."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.utils.dateparse import parse_datetime
from django.utils.html import escape
from django.utils.safestring import mark_safe

from mktops import clock
from mktops.models import Contact, Event, SentEvent
from quarantine.addresses import normalise
from quarantine.models import (
    Delivery,
    DeliveryExclusion,
    ErrorReason,
    ErrorType,
    ExclusionReason,
    QuarantineEntry,
    Status,
)

EXCLUDING = (Status.QUARANTINED, Status.DENYLISTED)


# --- per delivery ------------------------------------------------------------------------------
def delivery_quarantined_after(*, delivery: Delivery, limit: int = 500) -> list[QuarantineEntry]:
    """Addresses quarantined (or denylisted) after the delivery, from its reports: entries that
    a report of it reached (EntryDelivery) and that are excluding now. Newest first, at most `limit`."""
    return list(QuarantineEntry.objects
                .filter(tenant_id=delivery.tenant_id, channel=delivery.channel, status__in=EXCLUDING,
                        deliveries__tenant_id=delivery.tenant_id, deliveries__delivery_id=delivery.delivery_id)
                .order_by("-last_error_at", "-id")[:limit])


def delivery_exclusions(*, delivery: Delivery, reason: str = ""):
    qs = DeliveryExclusion.objects.filter(delivery=delivery).order_by("id")
    return qs.filter(reason=reason) if reason else qs


# --- bounces and non-deliverables by domain and error type -------------------------------------
PERIODS = {"7": 7, "30": 30, "90": 90, "365": 365, "all": None}
TOP_DOMAINS = 15
ERROR_TYPES = (ErrorType.HARD, ErrorType.SOFT, ErrorType.IGNORED)


@dataclass
class DomainRow:
    domain: str
    hard: int = 0
    soft: int = 0
    ignored: int = 0
    quarantined: int = 0
    errors: int = 0

    @property
    def total(self) -> int:
        return self.hard + self.soft + self.ignored


def bounce_report(*, tenant_ids: list[int] | None, channel: str = "email", period: str = "30",
                  delivery_id: str = "") -> dict:
    """Addresses with an error, by recipient domain (email; the channel's name otherwise) and the
    type of their last error, over the tenants given (None: the whole platform), or those whose
    last error came from one delivery. Each address is counted once, by its last error; `errors`
    sums the errors counted against them."""
    days = PERIODS.get(period, 30)
    qs = QuarantineEntry.objects.filter(channel=channel).exclude(error_type="")
    if tenant_ids is not None:
        qs = qs.filter(tenant_id__in=tenant_ids)
    if delivery_id:
        qs = qs.filter(last_delivery_id=delivery_id)
    if days is not None:
        qs = qs.filter(last_error_at__gte=clock.now() - timedelta(days=days))
    by_domain: dict[str, DomainRow] = {}
    grouped = (qs.values("domain", "error_type")
               .annotate(n=Count("id"), q=Count("id", filter=Q(status__in=EXCLUDING)), e=Sum("error_count"))
               .order_by())
    for row in grouped:
        name = row["domain"] or f"({channel})"
        item = by_domain.setdefault(name, DomainRow(name))
        setattr(item, row["error_type"], getattr(item, row["error_type"], 0) + row["n"])
        item.quarantined += row["q"]
        item.errors += row["e"] or 0
    rows = sorted(by_domain.values(), key=lambda r: (-r.total, r.domain))
    if len(rows) > TOP_DOMAINS:
        other = DomainRow("other domains")
        for r in rows[TOP_DOMAINS:]:
            for name in ("hard", "soft", "ignored", "quarantined", "errors"):
                setattr(other, name, getattr(other, name) + getattr(r, name))
        rows = [*rows[:TOP_DOMAINS], other]
    by_reason = qs.values("error_type", "error_reason").annotate(n=Count("id")).order_by("-n", "error_reason")
    reasons = [{**row, "type_label": _label(ErrorType, row["error_type"]),
                "reason_label": _label(ErrorReason, row["error_reason"])} for row in by_reason]
    return {"rows": rows, "reasons": reasons, "channel": channel, "period": period, "delivery_id": delivery_id,
            "total": sum(r.total for r in rows)}


def _label(choices, value: str) -> str:
    return choices(value).label if value in choices.values else value


COLOURS = {"hard": "#ba2121", "soft": "#e0a800", "ignored": "#8a8a8a"}


def bounce_chart_svg(rows: list[DomainRow]) -> str:
    """Horizontal stacked bars (hard, soft, ignored) per domain, drawn here: no script, no CDN."""
    if not rows:
        return ""
    label_w, bar_w, row_h, top = 190, 460, 22, 28
    widest = max(r.total for r in rows) or 1
    height = top + row_h * len(rows) + 10
    width = label_w + bar_w + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bounce-chart" role="img" width="100%" '
             f'viewBox="0 0 {width} {height}" style="max-width: {width}px" '
             'aria-label="Addresses with errors by domain and error type">']
    x = label_w
    for name in ("hard", "soft", "ignored"):
        parts.append(f'<rect x="{x}" y="6" width="12" height="12" fill="{COLOURS[name]}"/>'
                     f'<text x="{x + 16}" y="16" font-size="12">{name}</text>')
        x += 80
    for i, row in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{y + 14}" font-size="12" text-anchor="end">'
                     f'{escape(row.domain[:30])}</text>')
        x = label_w
        for name in ("hard", "soft", "ignored"):
            value = getattr(row, name)
            if value:
                w = max(1, round(bar_w * value / widest))
                parts.append(f'<rect x="{x}" y="{y + 3}" width="{w}" height="{row_h - 6}" fill="{COLOURS[name]}">'
                             f'<title>{escape(row.domain)}: {value} {name}</title></rect>')
                x += w
        parts.append(f'<text x="{x + 4}" y="{y + 14}" font-size="12">{row.total}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text in it is escaped above


# --- projection of the quarantined share as the base ages --------------------------------------
ERR_LIFETIME = "The address lifetime is a number of years between 0.5 and 50."
ERR_GROWTH = "The yearly growth is a percentage between 0 and 1000."
ERR_YEARS = "Project 1 to 20 years."
_CENT, _TENTH = Decimal("0.01"), Decimal("0.001")


def quarantine_projection(*, lifetime_years, growth_percent, years: int = 5) -> list[tuple[int, Decimal]]:
    """[(year, quarantined share in percent, to a tenth, cut not rounded)], the seed's way.

    An address lives `lifetime_years`: each year 1/lifetime of the base (the seed writes 0.33
    for 3 years: the rate to two decimals) goes bad. The base B starts at 1 and grows by
    `growth_percent` a year; the quarantined Q grow each year by the rate times (1 + last
    year's share), as the seed's second year does ((1.22 × 0.33) + 0.33):

        Q_n = Q_(n-1) + r × (1 + s_(n-1)),  B_n = B_(n-1) × (1 + g),  s_n = Q_n / B_n

    3 years and 50 %: s_1 = 0.33 / 1.5 = 22 %, s_2 = 0.7326 / 2.25 = 32.56 %, shown 32.5 %
    as the seed does."""
    try:
        lifetime, growth = Decimal(str(lifetime_years)), Decimal(str(growth_percent)) / 100
    except InvalidOperation:
        raise ValidationError({"lifetime": ERR_LIFETIME}) from None
    if not lifetime.is_finite() or not Decimal("0.5") <= lifetime <= 50:
        raise ValidationError({"lifetime": ERR_LIFETIME})
    if not growth.is_finite() or not 0 <= growth <= 10:
        raise ValidationError({"growth": ERR_GROWTH})
    if not isinstance(years, int) or not 1 <= years <= 20:
        raise ValidationError({"years": ERR_YEARS})
    rate = (1 / lifetime).quantize(_CENT, rounding=ROUND_HALF_UP)
    quarantined, base, share, out = Decimal(0), Decimal(1), Decimal(0), []
    for year in range(1, years + 1):
        quarantined += rate * (1 + share)
        base *= 1 + growth
        share = min(quarantined / base, Decimal(1))
        out.append((year, (share * 100).quantize(Decimal("0.1"), rounding=ROUND_DOWN)))
    return out


# --- the contact profile -----------------------------------------------------------------------
@dataclass
class AddressState:
    channel: str
    label: str
    given: str
    address: str  # normalised, "" when it cannot be read
    entry: QuarantineEntry | None
    problem: str = ""
    opted_out: bool = False

    @property
    def status(self) -> str:
        if self.problem:
            return self.problem
        return self.entry.get_status_display() if self.entry else "Valid"


def contact_addresses(contact: Contact) -> list[AddressState]:
    """Each address of the contact (email, mobile number, device tokens) with its quarantine entry."""
    wanted = [("email", "Email", contact.email)] if contact.email else []
    if contact.mobile_number:
        wanted.append(("sms", "Mobile number", contact.mobile_number))
    wanted += [("push", f"Push ({device.get_platform_display()})", device.push_token)
               for device in contact.devices.all()]
    states = []
    for channel, label, given in wanted:
        try:
            states.append(AddressState(channel, label, given, normalise(channel, given), None))
        except ValidationError:
            states.append(AddressState(channel, label, given, "", None, "Cannot be read as an address"))
    keys = {(s.channel, s.address) for s in states if s.address}
    if keys:
        condition = Q()
        for channel, address in keys:
            condition |= Q(channel=channel, address=address)
        entries = {(e.channel, e.address): e for e in
                   QuarantineEntry.objects.filter(condition, tenant_id=contact.tenant_id)}
        for state in states:
            state.entry = entries.get((state.channel, state.address))
    return states


SENT_CHANNELS = {name: channel for name, (channel, _) in SentEvent.CHANNELS.items()}
PROFILE_DELIVERIES = 30


@dataclass
class ContactDelivery:
    delivery_id: str
    channel: str = ""
    at: object = None
    sent: bool = False
    excluded_reason: str = ""
    failure: str = ""
    delivery_pk: int | None = None

    @property
    def outcome(self) -> str:
        if self.excluded_reason:
            return f"Excluded at analysis: {ExclusionReason(self.excluded_reason).label.lower()}"
        if self.failure:
            return f"Failed: {self.failure}"
        return "Targeted (sent)" if self.sent else "Targeted"


def _failure_text(evidence: dict) -> str:
    kind, reason = str(evidence.get("type") or ""), str(evidence.get("reason") or "")
    kind = ErrorType(kind).label.lower() if kind in ErrorType.values else kind
    reason = ErrorReason(reason).label.lower() if reason in ErrorReason.values else reason
    return ", ".join(part for part in (kind, reason) if part)


def contact_deliveries(contact: Contact, addresses: list[AddressState]) -> list[ContactDelivery]:
    """Each recent delivery to the contact: sent (its sent events, whose campaign id names the
    delivery), excluded at analysis (the exclusion log) or failed (its addresses' evidence)."""
    rows: dict[str, ContactDelivery] = {}

    def row(delivery_id: str, at) -> ContactDelivery:
        item = rows.setdefault(delivery_id, ContactDelivery(delivery_id))
        if at is not None and (item.at is None or at > item.at):
            item.at = at
        return item

    sent = (Event.objects.filter(contact=contact, event_name__in=list(SENT_CHANNELS))
            .exclude(campaign_id="").order_by("-event_time", "-id")
            .values_list("campaign_id", "event_name", "event_time")[:PROFILE_DELIVERIES])
    for campaign_id, name, at in sent:
        item = row(campaign_id, at)
        item.sent, item.channel = True, item.channel or SENT_CHANNELS[name]
    for exclusion in (DeliveryExclusion.objects.filter(tenant_id=contact.tenant_id, uid=contact.uid)
                      .select_related("delivery").order_by("-id")[:PROFILE_DELIVERIES]):
        item = row(exclusion.delivery.delivery_id, exclusion.analysed_at)
        item.excluded_reason, item.channel = exclusion.reason, exclusion.delivery.channel
        item.delivery_pk = exclusion.delivery_id
    for state in addresses:
        for evidence in (state.entry.evidence if state.entry else None) or ():
            if isinstance(evidence, dict) and evidence.get("delivery_id") and evidence.get("type"):
                at = parse_datetime(evidence["time"]) if isinstance(evidence.get("time"), str) else None
                item = row(str(evidence["delivery_id"]), at)
                item.channel = item.channel or state.channel
                item.failure = _failure_text(evidence)
    known = dict(Delivery.objects.filter(tenant_id=contact.tenant_id, delivery_id__in=list(rows))
                 .values_list("delivery_id", "pk"))
    for item in rows.values():
        item.delivery_pk = known.get(item.delivery_id)
    floor = clock.now() - timedelta(days=365 * 100)
    return sorted(rows.values(), key=lambda r: (r.at or floor), reverse=True)[:PROFILE_DELIVERIES]
