"""What a piece of delivery feedback means for the address: qualification by channel.

Each `qualify_*` returns a `Verdict`; quarantine.rules applies it to the entry. The tables are
data (quarantine/qualification/*.json, loaded into the rule models); a `Tables` object reads
them once per batch of reports."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cached_property

from django.db.models import F

from mktops import clock
from quarantine.models import (
    EmailQualificationRule,
    ErrorReason,
    ErrorType,
    PushQualificationRule,
    SmscConfig,
    SmscQualification,
)
from quarantine.qualification import smpp

# what a report does to the address
DELIVERED = "delivered"    # a success: nothing to record
ERROR = "error"            # an error: type, reason and whether it counts
DENYLIST = "denylist"      # a spam complaint or an opt-out: On denylist


@dataclass(frozen=True)
class Verdict:
    effect: str
    error_type: str = ""
    error_reason: str = ""
    counts: bool = False
    # the rule or code that decided, shown with the evidence
    rule: str = ""
    # SMS: "SR <SMSC> <status> <error>|#MESSAGE#"
    message: str = ""
    retry: bool | None = None


@dataclass
class Tables:
    """The qualification rules, read once per batch."""

    tenant: object
    _smsc: dict = field(default_factory=dict)

    @cached_property
    def email_rules(self) -> list[EmailQualificationRule]:
        return list(EmailQualificationRule.objects.filter(enabled=True).order_by("priority", "key"))

    @cached_property
    def push_rules(self) -> dict[tuple[str, str], PushQualificationRule]:
        return {(r.provider, r.code): r for r in PushQualificationRule.objects.all()}

    def smsc(self, provider: str) -> SmscConfig | None:
        if provider not in self._smsc:
            self._smsc[provider] = SmscConfig.objects.filter(tenant=self.tenant, name=provider).first()
        return self._smsc[provider]


# --- email ------------------------------------------------------------------------------
_DSN_STATUS = re.compile(r"^\s*Status:\s*([245])\.(\d{1,3})\.(\d{1,3})\b", re.I | re.M)
_ENHANCED = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?![\d.])")
_BASIC = re.compile(r"(?<!\d)([245])\d\d(?:[ -]|$)", re.M)
_ARF = re.compile(r"message/feedback-report|^\s*Feedback-Type:\s*(abuse|fraud)\b", re.I | re.M)


def enhanced_code(raw: str) -> tuple[str, str, str] | None:
    """The RFC 3463 status code of an SMTP reply or DSN; a bare 4xx / 5xx reply gives 4.0.0 / 5.0.0."""
    match = _DSN_STATUS.search(raw) or _ENHANCED.search(raw)
    if match:
        return match.group(1), str(int(match.group(2))), str(int(match.group(3)))
    basic = _BASIC.search(raw)
    return (basic.group(1), "0", "0") if basic else None


def code_matches(pattern: str, code: tuple[str, str, str] | None) -> bool:
    """"5.1.1" or "4.x.x" against a code; a blank pattern matches anything, even no code."""
    if not pattern:
        return True
    if code is None:
        return False
    parts = pattern.lower().split(".")
    return len(parts) == 3 and all(p == "x" or p == c for p, c in zip(parts, code, strict=True))


def text_matches(pattern: str, raw: str) -> bool:
    if not pattern:
        return True
    try:
        return re.search(pattern, raw, re.I) is not None
    except re.error:  # refused at save (admin); an old bad row never breaks a batch
        return False


def qualify_email(raw: str, tables: Tables) -> Verdict:
    if _ARF.search(raw):
        return Verdict(DENYLIST, ErrorType.HARD, ErrorReason.REFUSED, rule="spam complaint (ARF)")
    code = enhanced_code(raw)
    if code is not None and code[0] == "2":
        return Verdict(DELIVERED, rule=".".join(code))
    for rule in tables.email_rules:
        if code_matches(rule.code_pattern, code) and text_matches(rule.text_pattern, raw):
            return Verdict(ERROR, rule.error_type, rule.error_reason, rule.counts, rule=rule.key)
    return Verdict(ERROR, ErrorType.SOFT, ErrorReason.UNDEFINED, True, rule="no rule")


# --- SMS --------------------------------------------------------------------------------
SMS_KINDS = ("status_report", "inbound", "provider_error", "invalid_ack", "send_error")


def smsc_name(provider: str, config: SmscConfig | None) -> str:
    if config is not None:
        return config.name
    return smpp()["default_smsc_name"] if provider in ("smpp", "sms-generic") else provider


def _regex_group(pattern: str, raw: str) -> str:
    try:
        match = re.search(pattern, raw)
    except re.error:
        return ""
    return match.group(1) if match and match.groups() else ""


def normalised_sms_message(smsc: str, status: str, error: str) -> str:
    return f"SR {smsc} {status} {error}|#MESSAGE#"


def optout_keywords(config: SmscConfig | None) -> set[str]:
    if config is None:
        return set(smpp()["optout_keywords"])
    return {k.strip().upper() for k in config.optout_keywords.split(",") if k.strip()}


def is_optout(text: str, keywords: set[str]) -> bool:
    words = re.findall(r"[^\W_]+", text.upper())
    return bool(words) and words[0] in keywords


def qualify_sms(raw: str, provider: str, kind: str, tables: Tables) -> Verdict:
    config = tables.smsc(provider)
    if kind == "inbound":
        if is_optout(raw, optout_keywords(config)):
            return Verdict(DENYLIST, ErrorType.HARD, ErrorReason.REFUSED, rule="opt-out keyword")
        return Verdict(DELIVERED, rule="inbound message")
    if kind in smpp()["connector_errors"]:
        row = smpp()["connector_errors"][kind]
        return Verdict(ERROR, row["error_type"], row["error_reason"], True, rule=kind)
    name = smsc_name(provider, config)
    status = _regex_group(config.status_regex if config else smpp()["status_regex"], raw).upper()
    error = _regex_group(config.error_regex if config else smpp()["error_regex"], raw)
    message = normalised_sms_message(name, status, error)
    if status.startswith(smpp()["success_prefix"]):
        return Verdict(DELIVERED, rule="status " + status, message=message)
    if not status:
        # a report the SMSC's regular expression cannot read says nothing about the number
        return Verdict(ERROR, ErrorType.IGNORED, ErrorReason.UNDEFINED, False, rule="status not found",
                       message=message)
    row = smsc_qualification_seen(tenant=tables.tenant, smsc=name, status=status, error=error, message=message)
    return Verdict(ERROR, row.error_type, row.error_reason, row.error_type != ErrorType.IGNORED,
                   rule=f"SMSC qualification {row.pk}" + ("" if row.qualified else " (to be qualified)"),
                   message=message)


def smsc_qualification_seen(*, tenant, smsc: str, status: str, error: str, message: str) -> SmscQualification:
    """The row for (SMSC, status, error code), added as hard / refused and to be qualified when new."""
    now = clock.now()
    unqualified = smpp()["unqualified"]
    SmscQualification.objects.bulk_create([SmscQualification(
        tenant=tenant, smsc=smsc, status=status[:40], error_code=error[:40], message=message[:300],
        error_type=unqualified["error_type"], error_reason=unqualified["error_reason"],
        first_seen_at=now)], ignore_conflicts=True)
    rows = SmscQualification.objects.filter(tenant=tenant, smsc=smsc, status=status[:40], error_code=error[:40])
    rows.update(seen_count=F("seen_count") + 1, last_seen_at=now)
    return rows.get()


# --- push -------------------------------------------------------------------------------
def push_code(raw: str) -> str:
    """The error code in what APNs or FCM answered: JSON as they send it, or the bare code."""
    text = raw.strip()
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):  # FCM HTTP v1
            for detail in error.get("details") or []:
                if isinstance(detail, dict) and detail.get("errorCode"):
                    return str(detail["errorCode"])
            return str(error.get("status") or "")
        if isinstance(error, str):  # FCM legacy, OAuth
            return error
        if data.get("reason"):  # APNs
            return str(data["reason"])
        results = data.get("results")
        if isinstance(results, list) and results and isinstance(results[0], dict):
            return str(results[0].get("error") or "")
        return ""
    if text.startswith("Error="):  # FCM legacy plain text
        text = text[len("Error="):]
    return text.split()[0] if text else ""


def qualify_push(raw: str, provider: str, tables: Tables) -> Verdict:
    code = push_code(raw)
    rules = tables.push_rules
    rule = rules.get((provider, code))
    if rule is None:  # OAuth codes are lower case by the RFC; some libraries capitalise them
        rule = next((r for (p, c), r in rules.items() if p == provider and c.lower() == code.lower()), None)
    if rule is None:
        rule = rules.get((provider, "*"))
    if rule is None:
        return Verdict(ERROR, ErrorType.IGNORED, ErrorReason.UNDEFINED, False, rule=f"unknown code {code[:60]}")
    return Verdict(ERROR, rule.error_type, rule.error_reason, rule.error_type != ErrorType.IGNORED,
                   rule=f"{provider} {rule.code}", retry=rule.retry)
