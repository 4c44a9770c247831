"""What every platform adapter offers, and the two ways a platform call fails.

An adapter (one module per platform) answers four questions for the lifecycle:
- `identity_fields`: what the operator types to bind (ordered `FieldSpec`s; `secret` ones are
  encrypted at rest and never shown again);
- `validate(credentials)`: the shapes, before anything is sent (`ValidationError({field: message})`);
- `fetch_account(credentials)`: who the platform says this is (bind, rebind, health) as an `Account`;
- `send_test(credentials, to=, text=)`: one message, the platform's id for it as `SentMessage`.

A call fails in one of two ways, and the difference decides what the lifecycle does:
- `PlatformRefused`: the platform itself said no (a wrong token, an object that does not exist or
  is not reachable with this token, a permission not granted, an account suspended). Asking again
  will not help: a bind ends in Bind failed with the sentence.
- `PlatformUnavailable`: the platform could not be asked (timeout, 5xx, connection error, rate
  limit). Not a verdict on the channel: the job retries, a health check records a failed check.

Both carry a sentence in our words (`message`); what the platform sent is never in it, except the
names of missing permissions, which are checked against the names we know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError

from mktops.errors import OutsideError

ERR_REQUIRED = "{label} is required."
ERR_NOT_TEXT = "{label} must be text."
ERR_TOO_LONG = "{label} must be at most {limit} characters."
ERR_SHAPE = "{label} {rule}."
ERR_UNKNOWN_FIELD = "is not a credential of this channel type."


@dataclass(frozen=True)
class FieldSpec:
    name: str
    label: str
    secret: bool = False
    help: str = ""
    max_length: int = 255
    # the shape the value must have (fullmatch), and the rule in words for the message
    pattern: str = ""
    rule: str = ""
    required: bool = True


@dataclass(frozen=True)
class Account:
    """The platform's identity as the platform reports it."""

    account_id: str  # unique on the whole platform per channel type
    details: dict[str, str] = field(default_factory=dict)
    token_expires_at: datetime | None = None
    granted_scopes: tuple[str, ...] = ()


@dataclass(frozen=True)
class SentMessage:
    message_id: str


class PlatformError(OutsideError):
    """A call to a messaging platform failed (see the two subclasses)."""


class PlatformRefused(PlatformError):
    """The platform's own refusal: asking again with the same credentials will not help."""

    INVALID_TOKEN = "invalid_token"  # noqa: S105 - a reason code
    NOT_FOUND = "not_found"
    MISSING_PERMISSION = "missing_permission"
    REFUSED = "refused"

    def __init__(self, reason: str, message: str, *, missing_permissions: list[str] | tuple[str, ...] = ()):
        super().__init__(reason, message)
        self.missing_permissions = list(missing_permissions)


class PlatformUnavailable(PlatformError):
    """The platform could not be asked now; `retry_after` is the seconds it asked us to wait, if it did."""

    TIMEOUT = "timeout"
    SERVER_ERROR = "server_error"
    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"

    def __init__(self, reason: str, message: str, *, retry_after: int | None = None):
        super().__init__(reason, message)
        self.retry_after = retry_after


class Adapter:
    """The base of every platform adapter; subclasses set the class attributes and the calls."""

    channel_type: str = ""
    platform: str = ""  # the platform's name in sentences ("Meta's Graph API", "Viber")
    identity_fields: list[FieldSpec] = []
    # what `send_test(to=…)` takes, in words, for the form's help and the error
    recipient_label: str = "Recipient"
    recipient_help: str = ""
    recipient_pattern: str = r".{1,255}"
    recipient_rule: str = "must be at most 255 characters"
    # the name of the event a test send records through ingestion, and the event field the
    # recipient goes in ("email_id", "mobile_number", or "" when it is a platform user id)
    sent_event_name: str = ""
    sent_event_code: str = ""
    recipient_attribute: str = ""

    def field(self, name: str) -> FieldSpec:
        return next(f for f in self.identity_fields if f.name == name)

    def validate(self, credentials: dict) -> None:
        """Every shape problem at once, as {field: message}; nothing is sent anywhere."""
        errors = {name: ERR_UNKNOWN_FIELD for name in credentials if name not in {f.name for f in self.identity_fields}}
        for spec in self.identity_fields:
            message = _field_error(spec, credentials.get(spec.name))
            if message:
                errors[spec.name] = message
        if not errors:
            errors.update(self.validate_more(credentials))
        if errors:
            raise ValidationError(errors)

    def validate_more(self, credentials: dict) -> dict[str, str]:
        """Checks beyond one field's shape (a subclass's); the fields' shapes are right by then."""
        return {}

    def validate_recipient(self, to: str) -> str:
        """The recipient as the platform takes it, or ValidationError({"to": …})."""
        value = (to or "").strip()
        if not re.fullmatch(self.recipient_pattern, value):
            raise ValidationError({"to": ERR_SHAPE.format(label=self.recipient_label, rule=self.recipient_rule)})
        return value

    def fetch_account(self, credentials: dict) -> Account:
        raise NotImplementedError

    def send_test(self, credentials: dict, *, to: str, text: str) -> SentMessage:
        raise NotImplementedError

    def sent_message_content(self, credentials: dict, *, to: str, text: str, message_id: str) -> dict | None:
        """The message as the ingestion API's sent event carries it (the archive keeps it), or None for
        the types whose sent events carry no message (the chat platforms)."""
        return None


def _field_error(spec: FieldSpec, value) -> str:
    if value is None or value == "":
        return ERR_REQUIRED.format(label=spec.label) if spec.required else ""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ERR_NOT_TEXT.format(label=spec.label)
    if not value.strip():
        return ERR_REQUIRED.format(label=spec.label) if spec.required else ""
    if len(value) > spec.max_length:
        return ERR_TOO_LONG.format(label=spec.label, limit=spec.max_length)
    if spec.pattern and not re.fullmatch(spec.pattern, value.strip()):
        return ERR_SHAPE.format(label=spec.label, rule=spec.rule)
    return ""


def clean(credentials: dict, name: str) -> str:
    """A credential as sent to the platform: text, without surrounding spaces."""
    return str(credentials.get(name, "")).strip()
