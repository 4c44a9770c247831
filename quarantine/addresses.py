"""Address normalisation: one entry per address whatever the way it was written.

Emails are trimmed and lower-cased (the seed product is case-sensitive and asks
users to import lower case; we fold case so "Ann@X.com" and "ann@x.com" are one
address). Phone numbers become E.164. Push tokens are kept as given, trimmed."""

import re

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
MAX_ADDRESS = 512
TOO_LONG = f"An address has at most {MAX_ADDRESS} characters."


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
    if len(value) > MAX_ADDRESS:
        _fail(TOO_LONG)
    return value


# An email already in normal form: ASCII, no upper case, no space, one @ with a name before it and
# a dotted domain after it. normalise() returns such an address unchanged (strip and lower keep it,
# every check passes; tests/quarantine/test_addresses.py), so a hot loop may skip the call. Anything
# else, valid or not, goes through normalise(). Phone numbers have no such shortcut: an E.164-looking
# string can still be impossible, or lose a national prefix, in phonenumbers.
_EMAIL_IN_NORMAL_FORM = r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)+"
_NORMAL_EMAIL = re.compile(_EMAIL_IN_NORMAL_FORM + r"\Z").match


def _normal_push(address: str) -> bool:
    return address != "" and address.strip() == address and "\x00" not in address


def already_normal(channel: str):
    """A predicate true only for addresses (str, at most 512 characters) that normalise(channel, …)
    would return unchanged and that hold no NUL; None for a channel without a shortcut (sms)."""
    return {"email": _NORMAL_EMAIL, "push": _normal_push}.get(channel)


# The same, for every address of a chunk at once, in a few calls in C rather than one call per address:
# the analysis's chunks are mostly addresses in normal form. The addresses joined by newlines match
# the pattern repeated; a newline inside an address would split it in two, hence the count.
_NORMAL_EMAILS = re.compile(f"{_EMAIL_IN_NORMAL_FORM}(?:\\n{_EMAIL_IN_NORMAL_FORM})*\\Z").match


def _all_normal_email(addresses: list) -> bool:
    if not addresses or set(map(type, addresses)) != {str} or max(map(len, addresses)) > MAX_ADDRESS:
        return False
    joined = "\n".join(addresses)
    return joined.count("\n") == len(addresses) - 1 and _NORMAL_EMAILS(joined) is not None


def _all_normal_push(addresses: list) -> bool:
    if not addresses or set(map(type, addresses)) != {str} or max(map(len, addresses)) > MAX_ADDRESS:
        return False
    return all(addresses) and list(map(str.strip, addresses)) == addresses and "\x00" not in "".join(addresses)


def all_already_normal(channel: str):
    """A predicate over a non-empty list: true only when every item is a str of at most 512
    characters that already_normal(channel) takes (in normal form, no NUL); None for sms."""
    return {"email": _all_normal_email, "push": _all_normal_push}.get(channel)


def email_domain(address: str) -> str:
    """The domain of an email address, lower case ("" when there is none)."""
    _, sep, domain = address.strip().lower().rpartition("@")
    return domain if sep else ""
