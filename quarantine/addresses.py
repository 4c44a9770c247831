"""Address normalisation: one entry per address whatever the way it was written.

Emails are trimmed and lower-cased (the seed product is case-sensitive and asks
users to import lower case; we fold case so "Ann@X.com" and "ann@x.com" are one
address). Phone numbers become E.164. Push tokens are kept as given, trimmed."""

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

EMPTY_ADDRESS = "Give an address: it is empty."
BAD_EMAIL = "An email address has one @ with a name before it and a domain after it."
BAD_PHONE = (
    "Give the phone number in international format (+ country code, then the number), "
    "or a number valid in the default region; this one cannot be read as a phone number."
)
BAD_CHANNEL = "The channel is one of email, sms, push."
TOO_LONG = "An address has at most 512 characters."


def _fail(message: str) -> None:
    raise ValidationError({"address": message})


def default_phone_region() -> str | None:
    return getattr(settings, "MKTOPS_DEFAULT_PHONE_REGION", None) or None


def normalise_email(address: str) -> str:
    value = address.strip().lower()
    local, sep, domain = value.rpartition("@")
    if not sep or not local or not domain or " " in value or "." not in domain.strip("."):
        _fail(BAD_EMAIL)
    return value


def normalise_phone(address: str) -> str:
    value = address.strip()
    try:
        number = phonenumbers.parse(value, default_phone_region())
    except phonenumbers.NumberParseException:
        _fail(BAD_PHONE)
    if not phonenumbers.is_possible_number(number):
        _fail(BAD_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise(channel: str, address: str) -> str:
    """The address as quarantine stores it; ValidationError({"address": …}) when unreadable."""
    if not isinstance(address, str) or not address.strip():
        _fail(EMPTY_ADDRESS)
    if channel == "email":
        value = normalise_email(address)
    elif channel == "sms":
        value = normalise_phone(address)
    elif channel == "push":
        value = address.strip()
    else:
        raise ValidationError({"channel": BAD_CHANNEL})
    if len(value) > 512:
        _fail(TOO_LONG)
    return value


def email_domain(address: str) -> str:
    """The domain of an email address, lower case ("" when there is none)."""
    _, sep, domain = address.strip().lower().rpartition("@")
    return domain if sep else ""
