"""The signature check tool: does what a receiver got verify, and if not, why."""

from __future__ import annotations

import hmac
import time

from mktops.errors import CheckResult
from webhooks.models import Endpoint, Message
from webhooks.services.delivery import signature

# the Standard Webhooks libraries refuse a timestamp further than this from their clock
TOLERANCE_SECONDS = 5 * 60

OK_CURRENT = "The signature verifies against the endpoint's current secret."
OK_PREVIOUS = ("The signature verifies against the previous secret, which still signs during the rotation "
               "overlap; switch the receiver to the current secret before the overlap ends.")
MISSING = "The headers lack {names}: paste the webhook-id, webhook-timestamp and webhook-signature headers."
BAD_TIMESTAMP = "The webhook-timestamp header is not a number of seconds."
TOO_OLD = ("The timestamp is {age} seconds away from now, beyond the {tolerance} seconds receivers accept: "
           "a replayed or delayed request, or the receiver's clock is wrong.")
BODY_CHANGED = ("The signature does not match this body, but this webhook-id's message was signed with this "
                "secret: the body was changed on the way (re-serialised JSON, different whitespace or encoding). "
                "Verify the raw bytes received.")
NO_MATCH = "The signature matches neither the current nor the previous secret: the receiver uses a wrong secret."


def _headers(text: str) -> dict[str, str]:
    found = {}
    for line in text.splitlines():
        name, sep, value = line.partition(":")
        if sep:
            found[name.strip().lower()] = value.strip()
    return found


def signature_check(*, endpoint: Endpoint, headers_text: str, body: str, now: float | None = None) -> CheckResult:
    headers = _headers(headers_text)
    names = ("webhook-id", "webhook-timestamp", "webhook-signature")
    missing = [n for n in names if not headers.get(n)]
    if missing:
        return CheckResult(False, MISSING.format(names=", ".join(missing)), "missing_headers")
    webhook_id, stamp, signatures = (headers[n] for n in names)
    if not stamp.isdigit():
        return CheckResult(False, BAD_TIMESTAMP, "bad_timestamp")
    age = abs(int(now if now is not None else time.time()) - int(stamp))
    given = [s for s in signatures.split(" ") if s]
    # the previous secret counts only while it still signs (during the rotation overlap)
    secrets = list(zip(("current", "previous"), endpoint.signing_secrets(), strict=False))
    raw = body.encode()
    for which, secret in secrets:
        expected = signature(secret=secret, webhook_id=webhook_id, timestamp=int(stamp), body=raw)
        if any(hmac.compare_digest(expected, s) for s in given):
            if age > TOLERANCE_SECONDS:
                return CheckResult(False, TOO_OLD.format(age=age, tolerance=TOLERANCE_SECONDS), "too_old")
            return CheckResult(True, OK_CURRENT if which == "current" else OK_PREVIOUS, which)
    sent = Message.objects.filter(endpoint=endpoint, webhook_id=webhook_id).values_list("body", flat=True).first()
    if sent is not None and sent != body:
        for _, secret in secrets:
            expected = signature(secret=secret, webhook_id=webhook_id, timestamp=int(stamp), body=sent.encode())
            if any(hmac.compare_digest(expected, s) for s in given):
                return CheckResult(False, BODY_CHANGED, "body_changed")
    if age > TOLERANCE_SECONDS:
        return CheckResult(False, TOO_OLD.format(age=age, tolerance=TOLERANCE_SECONDS), "too_old")
    return CheckResult(False, NO_MATCH, "wrong_secret")
