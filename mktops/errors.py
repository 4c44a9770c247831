"""The core's error and result types, shared by every feature app.

- `OutsideError(reason, message)`: anything that went wrong talking to a system
  outside mktops (S3, SFTP, PGP, a webhook endpoint, a messaging platform).
  `reason` is a stable code callers and tests compare; `message` is a sentence
  in our words a person can act on. It never carries bytes the far side sent.
  Each outside-system module subclasses it (`S3Error`, `SftpError`, `PgpError`,
  `DeliveryError`, …), so callers catch `OutsideError` instead of duck-typing.
- `CheckResult`: the outcome of every "Test connection"-style check.
- Bad input: services raise Django's `ValidationError` with a dict mapping each
  field name to its message (constants the tests import); forms show them
  beside the field (`ModelForm._post_clean` / `form.add_error(None, exc)`).
"""

from __future__ import annotations

from dataclasses import dataclass


class OutsideError(Exception):
    """An outside system failed; `reason` is a stable code, `message` says it in words."""

    OTHER = "other"

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class CheckResult:
    """What a connection test found: `ok`, a sentence, and the failure's reason code."""

    ok: bool
    message: str
    reason: str = ""
    # what was written or checked (an object key, a path), when there is one
    detail: str = ""
