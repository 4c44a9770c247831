"""How long a tenant's files are kept: the compliance rule it chose (presets by rule), and what
each destination does about expiry.

- the platform store: our lifecycle rule on the tenant's prefix (config.archive_lifecycle_apply)
- the tenant's own bucket: its own lifecycle configuration, read (never written) and compared with
  the rule's minimum
- the tenant's SFTP server: retention is the server's; the platform deletes nothing there
"""

from __future__ import annotations

import math

from archive.models import ArchiveSettings, Destination, RetentionRule
from mktops import clock
from mktops.storage import buckets, s3

# the default retention periods of the rules the docs name (SEC 17a-4: 6 years, GLBA: 7 years,
# FINRA 2210: 3 years, MiFID II: 5 years)
RULE_YEARS = {RetentionRule.SEC_17A_4: 6, RetentionRule.GLBA: 7, RetentionRule.FINRA_2210: 3,
              RetentionRule.MIFID_II: 5}

ERR_LOCK_SHORTER = ("object lock days: {days} days is shorter than {rule}, which asks for {minimum} days; give "
                    "{minimum} or more, or leave it 0 to use the rule's period.")

MSG_SFTP = ("Retention on the SFTP server is the server's: the platform never deletes or expires files there. "
            "Keep them as long as {rule} asks with the server's own tools.")
MSG_NO_RULE = ("No lifecycle rule of bucket {bucket!r} expires files under {prefix}: they are kept until someone "
               "deletes them.")
MSG_RULE = "Rule {rule_id!r} of bucket {bucket!r} expires files under {where} after {after}."
WARN_SHORTER = ("Warning: {what} is shorter than {rule}, which asks for {minimum} days: files would be deleted "
                "before the rule allows. Lengthen the rule's expiry on the bucket.")
MSG_READ_FAILED = "Could not read the lifecycle rules of bucket {bucket!r}: {error}"
MSG_NO_MINIMUM = "No compliance rule is chosen, so there is no minimum to compare with."
MSG_PLATFORM_SHORTER = ("Warning: files are kept {days} days, shorter than {rule} ({minimum} days): ask your "
                        "CSM to lengthen the file retention.")


def rule_days(rule: str) -> int:
    """The rule's period in days, rounded up so that it never falls short of its years
    (a year is 365.25 days: 6 years are 2192 days, 7 → 2557, 3 → 1096, 5 → 1827)."""
    years = RULE_YEARS.get(rule)
    return math.ceil(years * 365.25) if years else 0


def _rule_words(rule: str) -> str:
    return RetentionRule(rule).label if rule in RetentionRule.values else rule


def retention_rule_apply(*, cfg: ArchiveSettings, errors: dict) -> None:
    """The object lock period defaults to the rule's; a period shorter than the rule's is refused
    when an object lock mode is chosen. After the lock the period is a CSM's to change, so a rule
    chosen then changes neither."""
    minimum = rule_days(cfg.retention_rule)
    if not minimum or cfg.locked_at is not None:
        return
    if not cfg.object_lock_days:
        cfg.object_lock_days = minimum
    elif cfg.object_lock_mode and cfg.object_lock_days < minimum:
        errors.setdefault("object_lock_days", ERR_LOCK_SHORTER.format(
            days=cfg.object_lock_days, rule=_rule_words(cfg.retention_rule), minimum=minimum))


def _after(rule: s3.ExpirationRule) -> str:
    return f"{rule.days} days" if rule.days is not None else f"the date {rule.date}"


def _shorter(rule: s3.ExpirationRule, minimum: int) -> bool:
    if rule.days is not None:
        return rule.days < minimum
    # a rule expiring on a fixed date deletes every file on that date: shorter unless the date
    # is at least the minimum away from today
    from datetime import date as date_type

    try:
        return (date_type.fromisoformat(rule.date[:10]) - clock.now().date()).days < minimum
    except ValueError:
        return True


def tenant_bucket_retention(*, cfg: ArchiveSettings) -> tuple[bool, str, int | None]:
    """Read the tenant's bucket lifecycle configuration and say whether a rule covers the archive's
    prefix and with which expiry; (ok, message, shortest expiry in days). Never writes."""
    from archive.services.destinations import _folder_prefix

    prefix = _folder_prefix(cfg.s3_folder)
    where = prefix or "the whole bucket"
    minimum, rule = rule_days(cfg.retention_rule), _rule_words(cfg.retention_rule)
    try:
        target = buckets.tenant_target(bucket=cfg.s3_bucket, region=cfg.s3_region or None, tenant_id=cfg.tenant_id)
        found = s3.lifecycle_expiration_rules(target, prefix)
    except s3.S3Error as err:  # S3's refusal in our words, or a bucket the ownership rules refuse
        return False, MSG_READ_FAILED.format(bucket=cfg.s3_bucket, error=err.message), None
    if not found:
        return True, MSG_NO_RULE.format(bucket=cfg.s3_bucket, prefix=where), None
    sentences, ok = [], True
    for r in found:
        part = where if r.covers_all else f"{r.prefix} (part of {where})"
        sentences.append(MSG_RULE.format(rule_id=r.rule_id, bucket=cfg.s3_bucket, where=part, after=_after(r)))
        if minimum and _shorter(r, minimum):
            ok = False
            sentences.append(WARN_SHORTER.format(what=f"rule {r.rule_id!r} ({_after(r)})", rule=rule, minimum=minimum))
    if not minimum:
        sentences.append(MSG_NO_MINIMUM)
    days = [r.days for r in found if r.days is not None]
    return ok, " ".join(sentences), min(days) if days else None


def platform_retention_warning(*, cfg: ArchiveSettings) -> str:
    minimum = rule_days(cfg.retention_rule)
    days = cfg.tenant.archive_file_retention_days
    if minimum and days < minimum:
        return MSG_PLATFORM_SHORTER.format(days=days, rule=_rule_words(cfg.retention_rule), minimum=minimum)
    return ""


def archive_retention_check(*, cfg: ArchiveSettings) -> tuple[bool, str]:
    """The file-retention button and the daily job for a destination the platform does not own:
    the tenant's bucket is read, the SFTP server is said to be its own. Recorded on the settings."""
    confirmed = None
    if cfg.destination == Destination.SFTP:
        ok, message = True, MSG_SFTP.format(rule=_rule_words(cfg.retention_rule) if cfg.retention_rule
                                            else "your compliance rule")
    else:
        ok, message, confirmed = tenant_bucket_retention(cfg=cfg)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(lifecycle_days_confirmed=confirmed,
                                                     lifecycle_checked_at=clock.now(), lifecycle_message=message)
    cfg.lifecycle_days_confirmed, cfg.lifecycle_message = confirmed, message
    return ok, message


# --- what the settings page says ---------------------------------------------------------
WARNING_MARK = "Warning:"
BUTTON = {Destination.PLATFORM: "Apply file retention rule", Destination.S3: "Check the bucket's lifecycle rules"}
MSG_NOT_CHECKED = {
    Destination.S3: "Files are kept as long as the bucket's lifecycle rules say; not checked yet (Check the "
                    "bucket's lifecycle rules reads them, and the daily job does).",
    Destination.SFTP: MSG_SFTP.format(rule="your compliance rule"),
}
MSG_MINIMUM = "Compliance rule: {rule}, at least {days} days."


def minimum_words(*, cfg: ArchiveSettings) -> str:
    minimum = rule_days(cfg.retention_rule)
    return MSG_MINIMUM.format(rule=_rule_words(cfg.retention_rule), days=minimum) if minimum else ""
