"""Reading archived messages back for support: view and download, each written to the access log."""

from __future__ import annotations

import email
import email.policy
import hashlib
import json
import logging
import posixpath
import re
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils.html import escape

from archive.models import ArchivedMessage, ArchiveSettings, Destination, InternalCopy, Outcome
from archive.services.config import WAITING_REASON
from archive.services.destinations import REASONS, DeliveryError, destination_read, target_for
from mktops.crypto import decrypt_bytes
from mktops.ingest import normalise_mobile
from mktops.jobs import JobStatus
from mktops.models import Contact
from mktops.services import audit_log_write

log = logging.getLogger(__name__)

ERR_SFTP_UNREADABLE = ("Stored on the tenant's SFTP server: the platform cannot read messages back from it. "
                       "Find the file there by its path.")
ERR_NOT_STORED = "This message was not stored: {reason}."
RETRYING = ("it is still being archived: the last attempt failed ({failed}); the next try is at "
            "{when:%Y-%m-%d %H:%M} UTC")
SFTP_PATH = "Its path there: {path}"
ERR_READ_FAILED = "The archived file could not be read: {reason}"
ACTION_VIEW = "archive.view"
ACTION_VIEW_BODY = "archive.view_body"  # the message page's frame: the email's HTML
ACTION_DOWNLOAD = "archive.download"
# every action that returns message content writes one of these (the access log lists them)
ACCESS_ACTIONS = (ACTION_VIEW, ACTION_VIEW_BODY, ACTION_DOWNLOAD)
ACTION_INTEGRITY = "archive.integrity_mismatch"
WARN_INTEGRITY = ("Integrity warning: this file does not match the SHA-256 recorded when it was archived "
                  "({expected}); it is now {found}. It was changed or damaged after it was stored: what is "
                  "shown is the file as it is now, not necessarily what was sent. This was logged.")
WAITING = "it is waiting for a destination (an operator has not confirmed where the archive goes yet)"
RAW_KEPT = ("This message could not be rendered as a file: {reason} What is shown is its content as received, "
            "kept in the internal store.")


class ArchiveReadError(Exception):
    pass


def _still_archiving(message: ArchivedMessage) -> str:
    """Queued: waiting for a destination, or during a retry what failed and when the next try is."""
    if message.failure_reason == WAITING_REASON:
        return ERR_NOT_STORED.format(reason=WAITING)
    if message.status == JobStatus.RETRYING and message.next_attempt_at:
        failed = REASONS.get(message.failure_reason, REASONS["other"]).lower()
        return ERR_NOT_STORED.format(reason=RETRYING.format(failed=failed, when=message.next_attempt_at))
    return ERR_NOT_STORED.format(reason="it is still being archived")


def sftp_path(*, message: ArchivedMessage, folder: str | None = None) -> str:
    """Where the file is on the tenant's SFTP server: its key under the configured folder."""
    if folder is None:
        folder = (ArchiveSettings.objects.filter(tenant_id=message.tenant_id, destination=Destination.SFTP)
                  .values_list("sftp_folder", flat=True).first() or "")
    return posixpath.join(folder, message.key) if folder else message.key


def _why_not(message: ArchivedMessage, sftp_folder: str | None = None) -> str | None:
    if message.outcome == Outcome.SKIPPED:
        return ERR_NOT_STORED.format(reason=message.get_skip_reason_display().lower())
    if message.outcome == Outcome.QUEUED:
        return _still_archiving(message)
    if message.outcome == Outcome.PURGED:
        return ERR_NOT_STORED.format(reason="it was not delivered and its internal copy was purged")
    if message.outcome == Outcome.STORED and message.destination == Destination.SFTP:
        return f"{ERR_SFTP_UNREADABLE} {SFTP_PATH.format(path=sftp_path(message=message, folder=sftp_folder))}"
    return None


def archived_message_unavailable(*, message: ArchivedMessage, sftp_folder: str | None = None) -> str | None:
    """Why View and Download are not offered for this message, or None when they are.
    `sftp_folder`: the tenant's SFTP folder when the caller has it (a page of rows, one query)."""
    return _why_not(message, sftp_folder)


def _stored_bytes(message: ArchivedMessage) -> bytes:
    """The stored file's bytes. Private: every caller that returns content goes through
    archived_message_read, which writes the access row."""
    reason = _why_not(message)
    if reason:
        raise ArchiveReadError(reason)
    try:
        if message.outcome == Outcome.HELD:
            data = decrypt_bytes(bytes(InternalCopy.objects.get(message=message).sealed))
        else:
            cfg = ArchiveSettings.objects.select_related("tenant").get(tenant_id=message.tenant_id)
            cfg.destination = message.destination  # read where it was written
            data = destination_read(target=target_for(cfg), key=message.key)
    except (DeliveryError, InternalCopy.DoesNotExist, ArchiveSettings.DoesNotExist) as exc:
        raise ArchiveReadError(ERR_READ_FAILED.format(reason=getattr(exc, "message", str(exc)))) from exc
    return data


@dataclass
class ReadResult:
    data: bytes
    # None: nothing to compare with (an internal copy: sealed, authenticated by its encryption)
    intact: bool | None
    warning: str = ""
    raw: bool = False  # the content as received (JSON), kept because it could not be rendered


def is_raw(message: ArchivedMessage) -> bool:
    return message.outcome == Outcome.HELD and message.failure_reason == "render_failed"


def archived_message_read(*, message: ArchivedMessage, user, action: str) -> ReadResult:
    """The stored file's bytes, logged as `action` (one of ACCESS_ACTIONS) for `user`, and compared
    with the SHA-256 recorded at storage: a mismatch is served with a warning and logged on its own."""
    data = _stored_bytes(message)
    result = ReadResult(data=data, intact=None, raw=is_raw(message))
    if message.outcome == Outcome.STORED and message.sha256:
        found = hashlib.sha256(data).hexdigest()
        result.intact = found == message.sha256
        if not result.intact:
            result.warning = WARN_INTEGRITY.format(expected=message.sha256, found=found)
    detail = {"message_id": message.message_id, "contact_uid": message.contact_uid,
              "event_name": message.event_name, "key": message.key,
              "integrity": {None: "not checked", True: "ok", False: "mismatch"}[result.intact]}
    audit_log_write(user=user, action=action, tenant=message.tenant, obj=message, detail=detail)
    if result.intact is False:
        log.warning("archived message %s does not match its SHA-256", message.message_id)
        audit_log_write(user=user, action=ACTION_INTEGRITY, tenant=message.tenant, obj=message,
                        detail={**detail, "expected": message.sha256, "found": found, "read_by": action})
    return result


CONTACTS_MATCHED = 50


def address_condition(*, term: str, tenants) -> Q:
    """The archive search by an email address or a phone number: the messages sent to it, and those
    of the contacts who have it now (a customer's current address finds their older messages too).
    Normalised as the API stores them: emails lower-cased, phone numbers without spaces or dashes."""
    addresses = {term.lower()} if "@" in term else set()
    mobile = normalise_mobile(term)
    if mobile:
        addresses.add(mobile)
    if not addresses:
        return Q(pk__in=[])
    contacts = (Contact.objects.filter(Q(email__in=addresses) | Q(mobile_number__in=addresses), tenant__in=tenants)
                .values_list("tenant_id", "uid")[:CONTACTS_MATCHED])
    condition = Q(recipient__in=addresses)
    for tenant_id, uid in contacts:
        condition |= Q(tenant_id=tenant_id, contact_uid=uid)
    return condition


def download_name(message: ArchivedMessage) -> str:
    base = message.key.rsplit("/", 1)[-1] if message.key else message.message_id
    if not base.endswith((".eml", ".json")):
        base += ".eml" if message.channel == "email" else ".json"
    return base


# --- presenting an email -------------------------------------------------------------
_HREF = re.compile(r"""\s(href|action|formaction)\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)""", re.IGNORECASE)
_SCRIPT = re.compile(r"<script\b.*?</script\s*>", re.IGNORECASE | re.DOTALL)

# the frame's own policy: nothing runs, nothing is fetched from outside
BODY_CSP = "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:"


def neutralise_links(html: str) -> str:
    """Links stay visible but go nowhere: the target moves to a title attribute."""
    html = _SCRIPT.sub("", html)
    return _HREF.sub(lambda m: f' title="{escape(m.group(2).strip(chr(39) + chr(34)))}"', html)


# an <img> (or a CSS url()) that would fetch from the network: the frame's policy blocks it
_REMOTE_IMAGE = re.compile(r"""<img\b[^>]*?\ssrc\s*=\s*["']?\s*(?:https?:)?//|url\(\s*["']?\s*(?:https?:)?//""",
                           re.IGNORECASE)
BLOCKED_IMAGES = ("{count} remote image(s) in this message are not loaded: they are blocked, so that opening the "
                  "archive does not fetch anything from the sender's servers or tell them the message was read.")


@dataclass
class EmailView:
    headers: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    html: str = ""
    text: str = ""
    remote_images: int = 0

    @property
    def blocked_images_note(self) -> str:
        return BLOCKED_IMAGES.format(count=self.remote_images) if self.remote_images else ""


def email_view(data: bytes) -> EmailView:
    msg = email.message_from_bytes(data, policy=email.policy.default)
    view = EmailView(headers=[(k, str(v)) for k, v in msg.items()], subject=str(msg.get("Subject", "")))
    html_part = msg.get_body(preferencelist=("html",))
    text_part = msg.get_body(preferencelist=("plain",))
    view.html = neutralise_links(html_part.get_content()) if html_part else ""
    view.remote_images = len(_REMOTE_IMAGE.findall(view.html))
    view.text = text_part.get_content() if text_part else ""
    return view


# what the customer read comes first (SMS and push): the body, then a push's title and data
_FIRST = ("content.body", "content.title", "content.data")


def json_view(data: bytes) -> list[tuple[str, str]]:
    doc = json.loads(data)
    fields = []
    for name, value in doc.items():
        if isinstance(value, dict):
            fields += [(f"{name}.{k}", v if isinstance(v, str) else json.dumps(v)) for k, v in value.items()]
        else:
            fields.append((name, "" if value is None else str(value)))
    first = [f for name in _FIRST for f in fields if f[0] == name]
    return first + [f for f in fields if f[0] not in _FIRST]
