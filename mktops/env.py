"""Strict parsers for settings read from the environment.

A value that does not parse is an error at start-up that names the variable
and the rule, never a silent default or a surprise later.
"""

import base64
import hashlib
import os
from urllib.parse import urlsplit

from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

# schemes whose URLs name a local path rather than a host
_HOSTLESS = ("sqlite", "unix")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean: use one of 1/0, true/false, yes/no, on/off."
    )


def env_int(name: str, default: int, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_url(name: str, default: str = "", schemes: tuple[str, ...] = ("http", "https")) -> str:
    raw = env_str(name, default)
    if not raw:
        return ""
    check_url(name, raw, schemes)
    return raw


def check_url(name: str, raw: str, schemes: tuple[str, ...]) -> None:
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a valid URL: {exc}.") from None
    if parts.scheme not in schemes:
        raise ImproperlyConfigured(
            f"{name}={raw!r} must be a URL with scheme {' or '.join(schemes)}."
        )
    if not parts.hostname and parts.scheme not in _HOSTLESS:
        raise ImproperlyConfigured(f"{name}={raw!r} has no host.")


def env_url_list(name: str, schemes: tuple[str, ...] = ("http", "https")) -> list[str]:
    """A comma-separated list of URLs, each checked like env_url."""
    values = env_list(name)
    for value in values:
        check_url(name, value, schemes)
    return values


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = env_str(name, default).upper() or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of {', '.join(choices)}.")
    return value


def env_fernet_keys(name: str) -> list[str]:
    """Comma-separated Fernet keys, newest first; each must be a usable key."""
    keys = env_list(name)
    for position, key in enumerate(keys, start=1):
        try:
            Fernet(key.encode())
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: key {position} is not a Fernet key (32 url-safe base64-encoded bytes); generate one "
                "with python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'."
            ) from None
    return keys


def dev_field_key(secret_key: str) -> str:
    """The field key used while DEBUG is on and MKTOPS_FIELD_KEYS is unset: derived from SECRET_KEY."""
    return base64.urlsafe_b64encode(hashlib.sha256(secret_key.encode()).digest()).decode()
