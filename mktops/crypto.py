"""Encryption of secrets at rest and of archived content.

`MKTOPS_FIELD_KEYS` is a list of Fernet keys, newest first: the newest
encrypts, every key decrypts, and `rotate()` re-encrypts under the newest.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """The value was encrypted under a key that is no longer configured."""


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    try:
        return MultiFernet([Fernet(k.encode()) for k in keys])
    except ValueError:
        raise ImproperlyConfigured(
            "MKTOPS_FIELD_KEYS holds a value that is not a Fernet key "
            "(32 url-safe base64-encoded bytes)."
        ) from None


def fernet() -> MultiFernet:
    return _fernet(tuple(settings.MKTOPS_FIELD_KEYS))


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    try:
        return fernet().decrypt(token)
    except InvalidToken:
        raise DecryptionError(
            "cannot decrypt: none of MKTOPS_FIELD_KEYS matches the key this value was sealed with"
        ) from None


def rotate_bytes(token: bytes) -> bytes:
    return fernet().rotate(token)


def mask(secret: str | None) -> str:
    """What a secret looks like on a page: never more than its last 4 characters."""
    if not secret:
        return ""
    if len(secret) <= 8:
        return "••••••••"
    return "••••••••" + secret[-4:]


class EncryptedTextField(models.TextField):
    """A text column stored as a Fernet token; the Python value is plain text."""

    def from_db_value(self, value, expression, connection):
        if value is None or value == "":
            return value
        return decrypt_bytes(value.encode()).decode()

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value is None or value == "":
            return value
        return encrypt_bytes(value.encode()).decode()


def encrypted_columns():
    """(model, field) for every EncryptedTextField of every installed model, feature apps included."""
    from django.apps import apps

    for model in apps.get_models():
        for f in model._meta.concrete_fields:
            if isinstance(f, EncryptedTextField):
                yield model, f


def is_current(token: str) -> bool:
    """Whether `token` is already sealed with the newest key (nothing to rotate)."""
    try:
        Fernet(settings.MKTOPS_FIELD_KEYS[0].encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True
