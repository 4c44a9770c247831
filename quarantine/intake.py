"""Delivery reports in: each item validated on its own, qualified, applied (POST /api/v1/delivery-reports).

A bad item is rejected with its index, field and rule; the others are applied, as the events
API does (mktops/api.py)."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils.dateparse import parse_datetime

from mktops import clock
from mktops.ingest import Rejection
from quarantine.addresses import normalise
from quarantine.qualify import DENYLIST, SMS_KINDS, Tables, Verdict, qualify_email, qualify_push, qualify_sms
from quarantine.rules import DUPLICATE, OUTCOMES, Report, report_apply, report_seen, soft_threshold

FIELDS = ("channel", "address", "provider", "delivery_id", "time", "raw")
OPTIONAL = ("kind",)
KINDS = {"email": ("bounce", "complaint"), "sms": SMS_KINDS, "push": ("error",)}
PROVIDERS = {"email": ("smtp",), "push": ("apns", "fcm")}
PROVIDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._-]{0,99}")
MAX_RAW = 64 * 1024
# a report from the future is a clock that is wrong, not feedback to act on
FUTURE_SLACK = timedelta(hours=1)

RULE_REQUIRED = "is required"
RULE_UNKNOWN = "is not a known field"
RULE_OBJECT = "must be a JSON object"
RULE_CHANNEL = "must be one of email, sms, push"
RULE_STRING = "must be a string"
RULE_DELIVERY_ID = "must be a string of 1 to 100 characters"
RULE_RAW = f"must be a non-empty string of at most {MAX_RAW} characters: the feedback as the provider gave it"
RULE_TIME = ("must be epoch seconds (a number) or an ISO 8601 time with its offset, "
             "not more than an hour in the future")
RULE_PROVIDER_EMAIL = "must be smtp for email"
RULE_PROVIDER_PUSH = "must be apns or fcm for push"
RULE_PROVIDER_SMS = ("must be smpp, sms-generic or an SMSC name (1-100 letters, digits, spaces, "
                     "dots, underscores, hyphens)")


def rule_kind(channel: str) -> str:
    return f"must be one of {', '.join(KINDS[channel])} for {channel}"


class ShapeError(ValueError):
    """The body as a whole is not {"reports": [...]}."""


class TooLarge(ValueError):
    pass


def parse_body(data, *, max_reports: int) -> list:
    if not isinstance(data, dict) or "reports" not in data:
        raise ShapeError('The body must be a JSON object with a "reports" list.')
    if set(data) - {"reports"}:
        raise ShapeError(f'Unknown top-level field(s): {", ".join(sorted(set(data) - {"reports"}))}; '
                         'the body must be {"reports": [...]}.')
    if not isinstance(data["reports"], list):
        raise ShapeError('"reports" must be a list of report objects.')
    if len(data["reports"]) > max_reports:
        raise TooLarge(f"The batch holds {len(data['reports'])} reports; the limit is {max_reports} per request.")
    return data["reports"]


@dataclass
class Parsed:
    report: Report
    kind: str


def _time(value) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        if not 1_000_000_000 <= value <= 9_999_999_999:
            return None
        return datetime.fromtimestamp(value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = parse_datetime(value.strip())
        except ValueError:
            return None
        if parsed is None or parsed.tzinfo is None:
            return None
        return parsed
    return None


def _provider_rule(channel: str, provider: str) -> str | None:
    if channel in PROVIDERS:
        if provider not in PROVIDERS[channel]:
            return RULE_PROVIDER_EMAIL if channel == "email" else RULE_PROVIDER_PUSH
        return None
    return None if PROVIDER_NAME.fullmatch(provider) else RULE_PROVIDER_SMS


def validate_report(item) -> Parsed | tuple[str, str]:
    """The parsed report, or (field, rule)."""
    if not isinstance(item, dict):
        return "report", RULE_OBJECT
    for name in item:
        if name not in FIELDS and name not in OPTIONAL:
            return str(name)[:100], RULE_UNKNOWN
    for name in FIELDS:
        if name not in item:
            return name, RULE_REQUIRED
    channel = item["channel"]
    if channel not in KINDS:
        return "channel", RULE_CHANNEL
    for name in ("address", "provider"):
        if not isinstance(item[name], str):
            return name, RULE_STRING
    provider = item["provider"].strip()
    if rule := _provider_rule(channel, provider):
        return "provider", rule
    delivery_id = item["delivery_id"]
    if not isinstance(delivery_id, str) or not 1 <= len(delivery_id.strip()) <= 100:
        return "delivery_id", RULE_DELIVERY_ID
    raw = item["raw"]
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_RAW or "\x00" in raw:
        return "raw", RULE_RAW
    at = _time(item["time"])
    if at is None or at > clock.now() + FUTURE_SLACK:
        return "time", RULE_TIME
    kind = item.get("kind", KINDS[channel][0])
    if kind not in KINDS[channel]:
        return "kind", rule_kind(channel)
    try:
        address = normalise(channel, item["address"])
    except ValidationError as exc:
        field_name, messages = next(iter(exc.message_dict.items()))
        return field_name, messages[0]
    return Parsed(Report(channel, address, provider, delivery_id.strip(), at, raw), kind)


def qualify(parsed: Parsed, tables: Tables) -> Verdict:
    report = parsed.report
    if report.channel == "email":
        if parsed.kind == "complaint":
            return Verdict(DENYLIST, "hard", "refused", rule="spam complaint")
        return qualify_email(report.raw, tables)
    if report.channel == "sms":
        return qualify_sms(report.raw, report.provider, parsed.kind, tables)
    return qualify_push(report.raw, report.provider, tables)


@dataclass
class IntakeOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    outcomes: Counter = field(default_factory=Counter)


def delivery_reports_ingest(*, tenant, items: list) -> IntakeOutcome:
    """Validates, qualifies and applies each report; one bad item never stops the others."""
    outcome = IntakeOutcome()
    tables = Tables(tenant)
    threshold = soft_threshold(tenant)
    for index, item in enumerate(items):
        parsed = validate_report(item)
        if isinstance(parsed, tuple):
            outcome.rejected.append(Rejection(index, *parsed))
            continue
        if report_seen(tenant=tenant, report=parsed.report):
            outcome.duplicates += 1
            continue
        result = report_apply(tenant=tenant, report=parsed.report, verdict=qualify(parsed, tables),
                              threshold=threshold)
        if result == DUPLICATE:
            outcome.duplicates += 1
        else:
            outcome.accepted += 1
            outcome.outcomes[result] += 1
    return outcome


def outcome_counts(outcome: IntakeOutcome) -> dict[str, int]:
    return {name: outcome.outcomes.get(name, 0) for name in OUTCOMES if name != DUPLICATE}
