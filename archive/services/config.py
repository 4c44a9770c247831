"""A tenant's archive settings: validation, the destination lock, the bucket policy,
Test connection, the file-retention lifecycle rule."""

from __future__ import annotations

import json
import re

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction

from archive.models import ArchivedMessage, ArchiveSettings, Destination, Outcome
from archive.services import retention
from archive.services.destinations import REASONS, DeliveryError, destination_probe, target_for
from archive.services.paths import TemplateError, path_template_validate
from mktops import clock, net, ratelimit, roles
from mktops.errors import CheckResult
from mktops.jobs import enqueue_on_commit
from mktops.models import Role, Tenant
from mktops.services import audit_log_write
from mktops.storage import buckets, s3

# failure_reason of a row kept until the operator confirms a destination
WAITING_REASON = "awaiting_destination"

ERR_LOCKED = ("{field}: the destination is locked since {when:%Y-%m-%d %H:%M} UTC, when the operator confirmed "
              "it; it can no longer be changed.")
ERR_LOCK_CSM = ("{field}: the write-once storage settings are part of the locked destination since "
                "{when:%Y-%m-%d %H:%M} UTC; ask your CSM to change them.")
ERR_CONFIRM_ACK = ("confirm: tick the box to confirm that the destination is final; it cannot be changed "
                   "afterwards.")
ERR_CONFIRM_LOCKED = "The destination is already locked since {when:%Y-%m-%d %H:%M} UTC."
ERR_CONFIRM_INVALID = "The destination cannot be confirmed until its settings are complete: {errors}"
ERR_SETTINGS_ARCHIVED = ("tenant: {tenant} has archived messages, so its archive settings cannot be made "
                         "again; ask platform support.")
ERR_DELETE_ARCHIVED = ("The archive settings of {tenant} cannot be deleted: the tenant has archived messages "
                       "and its destination stays locked.")
MSG_WAITING = ("{count} message(s) are waiting for a destination: nothing is written until an operator "
               "confirms where the archive goes (they are kept internally for {days} days).")
ERR_REQUIRED = "{field}: required when the destination is {destination}."
ERR_BUCKET_NAME = "bucket name: {rules}"
ERR_BUCKET_ARN = "bucket ARN: must be arn:aws:s3:::{bucket} (the ARN of the bucket named above)."
ERR_KMS_ARN = "SSE-KMS key ARN: must look like arn:aws:kms:REGION:ACCOUNT:key/ID or …:alias/NAME."
ERR_FINGERPRINT = "host key fingerprint: must be SHA256: followed by the base64 digest (ssh-keygen -lf)."
ERR_SFTP_SECRET = "password: give a password or a private key for the SFTP user."  # noqa: S105 - a message, not a secret
ERR_PORT = "port: must be between 1 and 65535."
ERR_SFTP_HOST_PRIVATE = ("host: resolves to an address that is not on the public internet (loopback, private, "
                         "link-local or reserved); mktops connects only to public addresses: give the public host "
                         "name or address of the SFTP server.")
ERR_SFTP_HOST_UNRESOLVED = ("host: the name could not be resolved; check its spelling and that it has a public "
                            "DNS record.")
ERR_LOCK_DAYS = "object lock days: give a number of days (1 or more) when an object lock mode is chosen."

# write-once storage: part of the locked choice; after the lock only a CSM changes them (audited)
LOCK_SETTING_FIELDS = ("object_lock_mode", "object_lock_days")
# the fields that make up the choice of destination; locked when the operator confirms it
LOCKED_FIELDS = ("destination", "s3_bucket", "s3_bucket_arn", "s3_region", "s3_folder", "sftp_host",
                 "sftp_port", "sftp_folder", "path_template_email", "path_template_sms", "path_template_push",
                 *LOCK_SETTING_FIELDS)
TEMPLATE_FIELDS = {"path_template_email": "email file path", "path_template_sms": "SMS file path",
                   "path_template_push": "push file path"}

_FINGERPRINT = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}=?$")

POLICY_ACTIONS = ("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetLifecycleConfiguration")

UNSUPPORTED_CHANNELS = (
    ("WhatsApp", "Not supported"), ("In-app messages", "Not supported"),
    ("On-site messages", "Not supported"), ("Connectors", "Not supported"),
)
ARCHIVED_CHANNELS = (("email", "Email"), ("sms", "SMS"), ("push", "Push (Android, iOS, Web)"))
CHANNEL_ARCHIVED = "Archived"
CHANNEL_NOT_ENABLED = "Not archived: not enabled for this tenant"
CHANNEL_ARCHIVE_OFF = "Not archived: the message archive is off for this tenant"
ARCHIVE_ON = "The message archive is on for this tenant: the channels marked Archived are kept."
ARCHIVE_OFF = ("The message archive is off for this tenant: no message is archived. It is a paid feature; "
               "ask your customer success manager to enable it.")


def archive_channels(*, tenant: Tenant) -> list[tuple[str, str]]:
    """Each channel and whether this tenant's messages on it are archived (the CSM's entitlements)."""
    rows = []
    for channel, label in ARCHIVED_CHANNELS:
        if not tenant.archive_enabled:
            state = CHANNEL_ARCHIVE_OFF
        else:
            state = CHANNEL_ARCHIVED if tenant.archives_channel(channel) else CHANNEL_NOT_ENABLED
        rows.append((label, state))
    return rows + list(UNSUPPORTED_CHANNELS)


def archive_state(*, tenant: Tenant) -> str:
    return ARCHIVE_ON if tenant.archive_enabled else ARCHIVE_OFF


PLATFORM_BUCKET = ("The platform's S3 bucket {bucket}: files are encrypted at rest (SSE-S3), each tenant's under "
                   "its own folder, and shown in the console.")
PLATFORM_LOCAL = ("Demo: the platform's store is a local folder on this server, standing in for the platform's "
                  "S3 bucket; files are encrypted at rest. A real installation sets MKTOPS_ARCHIVE_BUCKET.")


PLATFORM_LOCAL_CHOICE = "The platform's store (in this demo: a local folder)"


def platform_store_is_local() -> bool:
    from django.core.files.storage import storages

    return not s3.is_bucket_storage(storages["archive"])


def platform_store_words() -> str:
    """What the platform's store is here: its bucket, or (the demo) a local folder."""
    from django.core.files.storage import storages

    if platform_store_is_local():
        return PLATFORM_LOCAL
    return PLATFORM_BUCKET.format(bucket=storages["archive"].bucket_name)


def _check_locked(cfg: ArchiveSettings, before: ArchiveSettings | None, errors: dict, by_csm: bool = False) -> None:
    if before is None or before.locked_at is None:
        return
    for name in LOCKED_FIELDS:
        if getattr(cfg, name) != getattr(before, name):
            if by_csm and name in LOCK_SETTING_FIELDS:
                continue
            label = ArchiveSettings._meta.get_field(name).verbose_name
            rule = ERR_LOCK_CSM if name in LOCK_SETTING_FIELDS else ERR_LOCKED
            errors[name] = rule.format(field=label, when=before.locked_at)


def _check_s3(cfg: ArchiveSettings, errors: dict) -> None:
    label = Destination(cfg.destination).label
    for name in ("s3_bucket", "s3_bucket_arn", "s3_region"):
        if not getattr(cfg, name):
            errors[name] = ERR_REQUIRED.format(field=ArchiveSettings._meta.get_field(name).verbose_name,
                                               destination=label)
    # the naming rules first; a well-formed name must also be neither the platform's nor another tenant's
    bucket_rules = s3.bucket_name_errors(cfg.s3_bucket) if cfg.s3_bucket else []
    bucket_rules = bucket_rules or buckets.bucket_claim_errors(bucket=cfg.s3_bucket, tenant_id=cfg.tenant_id)
    if bucket_rules:
        errors["s3_bucket"] = ERR_BUCKET_NAME.format(rules=" ".join(bucket_rules))
    if cfg.s3_bucket and cfg.s3_bucket_arn and cfg.s3_bucket_arn != f"arn:aws:s3:::{cfg.s3_bucket}":
        errors["s3_bucket_arn"] = ERR_BUCKET_ARN.format(bucket=cfg.s3_bucket)
    if cfg.s3_kms_key_arn and not s3.KMS_ARN_RE.match(cfg.s3_kms_key_arn):
        errors["s3_kms_key_arn"] = ERR_KMS_ARN


def _check_sftp(cfg: ArchiveSettings, errors: dict) -> None:
    label = Destination(cfg.destination).label
    for name in ("sftp_host", "sftp_username", "sftp_host_key_fingerprint"):
        if not getattr(cfg, name):
            errors[name] = ERR_REQUIRED.format(field=ArchiveSettings._meta.get_field(name).verbose_name,
                                               destination=label)
    if not cfg.sftp_password and not cfg.sftp_private_key:
        errors["sftp_password"] = ERR_SFTP_SECRET
    if cfg.sftp_host_key_fingerprint and not _FINGERPRINT.match(cfg.sftp_host_key_fingerprint):
        errors["sftp_host_key_fingerprint"] = ERR_FINGERPRINT
    if not 1 <= (cfg.sftp_port or 0) <= 65535:
        errors["sftp_port"] = ERR_PORT
    elif cfg.sftp_host:
        _check_sftp_address(cfg, errors)


def _check_sftp_address(cfg: ArchiveSettings, errors: dict) -> None:
    """The host must resolve to public addresses only (checked again at every connect, since DNS
    answers change); every spelling of an internal address is caught by what it resolves to."""
    try:
        net.resolve_public(cfg.sftp_host, cfg.sftp_port)
    except net.BlockedAddress:
        errors["sftp_host"] = ERR_SFTP_HOST_PRIVATE
    except net.AddressRefused:
        errors["sftp_host"] = ERR_SFTP_HOST_UNRESOLVED


def archive_settings_validate(*, cfg: ArchiveSettings, before: ArchiveSettings | None = None,
                              by_csm: bool = False) -> None:
    """Raise ValidationError({field: message}) for every rule the settings break. `by_csm`: the
    write-once storage settings may change after the lock (a CSM's repair)."""
    errors: dict[str, str] = {}
    _check_locked(cfg, before, errors, by_csm)
    if before is None and cfg.pk is None and cfg.tenant_id and tenant_has_archived(tenant_id=cfg.tenant_id):
        # a new, unlocked row for a tenant that archived would undo its lock
        errors["tenant"] = ERR_SETTINGS_ARCHIVED.format(tenant=cfg.tenant)
    if cfg.destination == Destination.S3:
        _check_s3(cfg, errors)
    elif cfg.destination == Destination.SFTP:
        _check_sftp(cfg, errors)
    for name, label in TEMPLATE_FIELDS.items():
        value = getattr(cfg, name).strip()
        setattr(cfg, name, value)
        if value:
            try:
                path_template_validate(template=value, field=label)
            except TemplateError as exc:
                errors.setdefault(name, str(exc))
    # the compliance rule chosen: the object lock period defaults to it and may not be shorter
    retention.retention_rule_apply(cfg=cfg, errors=errors)
    if cfg.object_lock_mode and cfg.object_lock_days < 1:
        errors["object_lock_days"] = ERR_LOCK_DAYS
    if errors:
        raise ValidationError(errors)


def archive_bucket_claims(bucket: str) -> list[int]:
    """The tenants whose archive goes to `bucket` (registered with mktops.storage.buckets)."""
    return list(ArchiveSettings.objects.filter(destination=Destination.S3, s3_bucket__iexact=bucket)
                .values_list("tenant_id", flat=True))


def archive_settings_save(*, cfg: ArchiveSettings, by=None) -> ArchiveSettings:
    """Validate and save; the audit row names each changed field with its old and new value
    (secrets only as 'changed'). After the lock a CSM may change the write-once storage settings."""
    before = ArchiveSettings.objects.filter(pk=cfg.pk).first() if cfg.pk else None
    archive_settings_validate(cfg=cfg, before=before, by_csm=by is not None and roles.is_csm(by))
    cfg.save()
    audit_log_write(user=by, action="archive.settings_change", tenant=cfg.tenant, obj=cfg,
                    detail={"destination": cfg.destination, "changes": _changes(before, cfg)})
    return cfg


_SECRET_FIELDS = ("sftp_password", "sftp_private_key")
_AUDITED_FIELDS = (*LOCKED_FIELDS, "s3_kms_key_arn", "sftp_username", "sftp_host_key_fingerprint", "retention_rule",
                   *_SECRET_FIELDS)


def _changes(before: ArchiveSettings | None, cfg: ArchiveSettings) -> dict:
    changes = {}
    for name in _AUDITED_FIELDS:
        old, new = (getattr(before, name) if before else None), getattr(cfg, name)
        if old != new and (before is not None or new):
            changes[name] = "changed" if name in _SECRET_FIELDS else [old, new]
    return changes


# --- the destination lock -----------------------------------------------------------------
def tenant_has_archived(*, tenant_id: int) -> bool:
    """Whether any message of the tenant was written, or tried at a destination and kept internally:
    from then on its settings stay (never deleted, never made again unlocked). Rows that only waited
    for a destination have none."""
    return ArchivedMessage.objects.filter(
        tenant_id=tenant_id, outcome__in=(Outcome.STORED, Outcome.HELD, Outcome.PURGED)).exclude(
        destination="").exists()


def waiting_for_destination(*, tenant_id: int):
    """The tenant's rows not written yet while no destination is confirmed: those the delivery set
    aside (kept internally, archive.services.delivery) and those not tried yet."""
    return ArchivedMessage.objects.filter(tenant_id=tenant_id, outcome=Outcome.QUEUED)


def archive_destination_confirm(*, cfg: ArchiveSettings, by, acknowledged: bool) -> ArchiveSettings:
    """The operator's explicit, final choice: lock the destination as saved and release the messages
    that waited for it. Operators of the tenant only (PermissionDenied for anyone else, CSMs too: the
    destination is the tenant's decision)."""
    if roles.role_for(by, cfg.tenant_id) != Role.OPERATOR:  # the tenant's choice: not a CSM's, not support's
        raise PermissionDenied
    saved = ArchiveSettings.objects.select_related("tenant").get(pk=cfg.pk)
    if saved.locked_at is not None:
        raise ValidationError(ERR_CONFIRM_LOCKED.format(when=saved.locked_at))
    if tenant_has_archived(tenant_id=saved.tenant_id):  # a row made again around the admin
        raise ValidationError(ERR_SETTINGS_ARCHIVED.format(tenant=saved.tenant))
    if not acknowledged:
        raise ValidationError({"confirm": ERR_CONFIRM_ACK})
    try:
        archive_settings_validate(cfg=saved)
    except ValidationError as err:
        raise ValidationError(ERR_CONFIRM_INVALID.format(errors=" ".join(err.messages))) from err
    now = clock.now()
    with transaction.atomic():
        if ArchiveSettings.objects.filter(pk=saved.pk, locked_at__isnull=True).update(locked_at=now) != 1:
            raise ValidationError(ERR_CONFIRM_LOCKED.format(when=now))
        saved.locked_at = now
        audit_log_write(user=by, action="archive.destination_confirm", tenant=saved.tenant, obj=saved,
                        detail={name: getattr(saved, name) for name in LOCKED_FIELDS})
        waiting = waiting_for_destination(tenant_id=saved.tenant_id)
        ids = list(waiting.values_list("pk", flat=True))
        waiting.filter(pk__in=ids, failure_reason=WAITING_REASON).update(next_attempt_at=now, failure_reason="",
                                                                          last_error="")
        for start in range(0, len(ids), 200):
            enqueue_on_commit("archive.tasks.deliver", ids[start:start + 200])
    return saved


_DESTINATION_FIELDS = {Destination.PLATFORM: (), Destination.S3: ("s3_bucket", "s3_region", "s3_folder"),
                       Destination.SFTP: ("sftp_host", "sftp_port", "sftp_folder")}


def locked_summary(*, cfg: ArchiveSettings) -> list[tuple[str, str]]:
    """What a confirmation locks, in words: the destination, where in it, the file paths, write-once storage."""
    rows = [("destination", Destination(cfg.destination).label)]
    rows += [(ArchiveSettings._meta.get_field(n).verbose_name, str(getattr(cfg, n)) or "—")
             for n in _DESTINATION_FIELDS[cfg.destination]]
    if cfg.destination != Destination.PLATFORM:
        rows += [(label, getattr(cfg, name) or "the default") for name, label in TEMPLATE_FIELDS.items()]
    lock = (f"{cfg.get_object_lock_mode_display()}, {cfg.object_lock_days} days" if cfg.object_lock_mode
            else "No object lock")
    return [*rows, ("write-once storage", lock)]


def archive_settings_delete(*, cfg: ArchiveSettings, by) -> None:
    """Only a CSM, and only for a tenant that never archived anything (its lock must hold)."""
    if not roles.is_csm(by):
        raise PermissionDenied
    if tenant_has_archived(tenant_id=cfg.tenant_id):
        raise ValidationError(ERR_DELETE_ARCHIVED.format(tenant=cfg.tenant))
    audit_log_write(user=by, action="archive.settings_delete", tenant=cfg.tenant, obj=cfg,
                    detail={name: getattr(cfg, name) for name in LOCKED_FIELDS})
    cfg.delete()


def archive_tenant_notes(tenant: Tenant) -> list[str]:
    """For the CSM's tenant page (mktops.tenant_notes): messages waiting for a destination."""
    if ArchiveSettings.objects.filter(tenant=tenant, locked_at__isnull=False).exists():
        return []
    count = waiting_for_destination(tenant_id=tenant.pk).count()
    if not count:
        return []
    from archive.services.delivery import INTERNAL_STORE_DAYS

    return [MSG_WAITING.format(count=count, days=INTERNAL_STORE_DAYS)]


def bucket_policy(*, bucket: str, external_id: str) -> str:
    """The policy a tenant pastes on its bucket, granting the platform's principals the four actions
    only while they act for this tenant (its external id as the session tag, see the README)."""
    doc = {
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "MktopsMessageArchive",
            "Effect": "Allow",
            "Principal": {"AWS": list(settings.MKTOPS_PLATFORM_PRINCIPALS)},
            "Action": list(POLICY_ACTIONS),
            "Resource": [f"arn:aws:s3:::{bucket or 'BUCKET-NAME'}", f"arn:aws:s3:::{bucket or 'BUCKET-NAME'}/*"],
            "Condition": buckets.tenant_condition(external_id or "TENANT-EXTERNAL-ID"),
        }],
    }
    return json.dumps(doc, indent=2)


def archive_connection_test(*, cfg: ArchiveSettings, by=None) -> CheckResult:
    """Write and remove a probe file at the destination; record and return the outcome in words.
    At most ratelimit.CONNECTION_TESTS per tenant in ratelimit.CONNECTION_TEST_WINDOW: a refused
    test reaches nothing and leaves the last test's outcome as it was."""
    try:
        attempt = ratelimit.attempt_start(tenant=cfg.tenant, action="archive.connection_test",
                                          what="connection tests", user=by, obj=cfg)
    except ratelimit.RateLimited as err:
        return CheckResult(False, err.message, reason=err.reason)
    result = _probe_destination(cfg)
    now = clock.now()
    ArchiveSettings.objects.filter(pk=cfg.pk).update(last_test_at=now, last_test_ok=result.ok,
                                                     last_test_message=result.message)
    cfg.last_test_at, cfg.last_test_ok, cfg.last_test_message = now, result.ok, result.message
    ratelimit.attempt_finish(attempt, ok=result.ok, reason=result.reason)
    return result


def _probe_destination(cfg: ArchiveSettings) -> CheckResult:
    try:
        archive_settings_validate(cfg=cfg)
        detail = destination_probe(target=target_for(cfg))
        return CheckResult(True, f"Connection works. {detail}", detail=detail)
    except DeliveryError as err:
        return CheckResult(False, f"{err.words}: {err.message}", reason=err.reason)
    except ValidationError as err:  # settings incomplete, or a host that is not public
        return CheckResult(False, f"{REASONS['not_configured']}: {' '.join(err.messages)}",
                           reason="not_configured")


# --- file retention ----------------------------------------------------------------------
ERR_RETENTION_LOCAL = "The local archive folder has no lifecycle rules (set MKTOPS_ARCHIVE_BUCKET)."


def tenant_prefix(*, tenant: Tenant) -> str:
    return f"{tenant.db_name}/"


def archive_lifecycle_apply(*, tenant: Tenant) -> tuple[bool, str]:
    """Put the file-retention expiration rule on the tenant's prefix of the platform bucket and
    read it back to confirm; the outcome is recorded on the settings."""
    cfg, _ = ArchiveSettings.objects.get_or_create(tenant=tenant)
    if cfg.destination != Destination.PLATFORM:
        # the tenant's own bucket is read, never written; an SFTP server keeps its own retention
        cfg.tenant = tenant
        return retention.archive_retention_check(cfg=cfg)
    days = tenant.archive_file_retention_days
    if not settings.MKTOPS_ARCHIVE_BUCKET:
        ok, message, confirmed = False, ERR_RETENTION_LOCAL, None
    else:
        target, prefix = s3.S3Target.platform(), tenant_prefix(tenant=tenant)
        try:
            s3.ensure_expiration_rule(target, prefix, days, rule_id=f"mktops-archive-retention-{tenant.db_name}")
            confirmed = s3.lifecycle_expiration_days(target, prefix)
            ok = confirmed == days
            message = (f"Files under {prefix} expire after {confirmed} days (read back from the bucket)."
                       if ok else f"The rule read back says {confirmed} days, not {days}.")
        except s3.S3Error as err:
            ok, message, confirmed = False, f"Could not set the retention rule: {err.message}", None
    ArchiveSettings.objects.filter(pk=cfg.pk).update(
        lifecycle_days_confirmed=confirmed, lifecycle_checked_at=clock.now(), lifecycle_message=message)
    return ok, message


WARN_EVENT_RETENTION = ("Events are kept {events} days but files {files} days: after {events} days a "
                        "message leaves the contact's timeline; find it with the archive search.")


def retention_warning(*, tenant: Tenant) -> str:
    if tenant.event_retention_days < tenant.archive_file_retention_days:
        return WARN_EVENT_RETENTION.format(events=tenant.event_retention_days,
                                           files=tenant.archive_file_retention_days)
    return ""
