"""SMS sender IDs over Twilio's Programmable Messaging REST API: the only module that talks to the SMS provider.

Base URL: `settings.MKTOPS_SMS_API_URL` (default https://api.twilio.com), HTTP basic auth with the account
SID and its auth token.

- The account: `GET /2010-04-01/Accounts/{AccountSid}.json` gives `status` (active, suspended, closed),
  `type` (Trial, Full) and `friendly_name`; 401 is a SID and token that do not match, 404 an account this
  token cannot see.
- A test message: `POST /2010-04-01/Accounts/{AccountSid}/Messages.json` (form: To, From, Body) answers 201
  with the message's `sid`. Refusals are 400 with Twilio's `code` (21211 a bad To, 21212 / 21606 / 21659 a
  From the account may not use, 21408 / 21612 a region not enabled, 21610 a recipient who replied STOP,
  21608 a trial account's unverified recipient); 429 (code 20429) is the rate limit.

The bound identity is the sender ID at its account: `account_id` is "<sender ID>@<account SID>", so the
same sender ID registered at two accounts are two identities, and one account's sender ID binds once.
"""

from __future__ import annotations

from urllib.parse import quote

from django.conf import settings

from channels.providers import _http
from channels.providers.base import (
    Account,
    Adapter,
    FieldSpec,
    PlatformRefused,
    PlatformUnavailable,
    SentMessage,
    clean,
)

PLATFORM = "The SMS provider (Twilio)"
API = "/2010-04-01/Accounts"

SENDER_ID = r"(?=[A-Za-z0-9 ]*[A-Za-z])[A-Za-z0-9 ]{1,11}|\+[1-9][0-9]{6,14}"
SENDER_ID_RULE = ("must be an alphanumeric sender ID (1 to 11 letters, digits or spaces, at least one letter) or "
                  "a phone number in international form (+ and 7 to 15 digits)")

ERR_CREDENTIALS_REFUSED = ("The SMS provider (Twilio) says the account SID and auth token do not match. Copy "
                           "both again from the Twilio console and bind again.")
ERR_NOT_FOUND = "The SMS provider (Twilio) says there is no account {sid} that this auth token can see."
ERR_MISSING_PERMISSION = ("The SMS provider (Twilio) says these credentials may not do this. Use the account's own "
                          "auth token, or an API key with access to messaging.")
ERR_SUSPENDED = ("The SMS provider (Twilio) says the account is {status}, so it sends nothing. Settle it with "
                 "Twilio before binding again.")
ERR_BAD_TO = "The SMS provider (Twilio) says the recipient is not a valid phone number."
ERR_BAD_FROM = ("The SMS provider (Twilio) says this account may not send from the sender ID {sender}. Register "
                "the sender ID with Twilio (alphanumeric sender IDs are registered per country).")
ERR_REGION = ("The SMS provider (Twilio) says the account may not send to the recipient's country. Enable it in "
              "the account's geographic permissions.")
ERR_UNSUBSCRIBED = "The SMS provider (Twilio) says the recipient has unsubscribed (replied STOP) from this sender."
ERR_TRIAL = ("The SMS provider (Twilio) says a trial account sends only to numbers verified in its console. "
             "Verify the number there, or upgrade the account.")
ERR_REFUSED = ("The SMS provider (Twilio) refused the request for a reason mktops does not recognise. Check the "
               "account in the Twilio console.")
ERR_NOT_AN_ANSWER = ("The SMS provider (Twilio) answered with something that is not an API answer. "
                     "mktops will ask again.")

SEND_REFUSALS = {
    21211: (PlatformRefused.REFUSED, ERR_BAD_TO),
    21212: (PlatformRefused.REFUSED, ERR_BAD_FROM),
    21606: (PlatformRefused.REFUSED, ERR_BAD_FROM),
    21659: (PlatformRefused.REFUSED, ERR_BAD_FROM),
    21408: (PlatformRefused.MISSING_PERMISSION, ERR_REGION),
    21612: (PlatformRefused.MISSING_PERMISSION, ERR_REGION),
    21610: (PlatformRefused.REFUSED, ERR_UNSUBSCRIBED),
    21608: (PlatformRefused.REFUSED, ERR_TRIAL),
}


def _text(value) -> str:
    return "" if value is None else str(value)[:255]


def _refusal(response: _http.Response, *, sid: str, sender: str) -> PlatformRefused:
    if response.status == 401:
        return PlatformRefused(PlatformRefused.INVALID_TOKEN, ERR_CREDENTIALS_REFUSED)
    if response.status == 403:
        return PlatformRefused(PlatformRefused.MISSING_PERMISSION, ERR_MISSING_PERMISSION)
    if response.status == 404:
        return PlatformRefused(PlatformRefused.NOT_FOUND, ERR_NOT_FOUND.format(sid=sid))
    code = response.json().get("code")
    reason, message = SEND_REFUSALS.get(code if isinstance(code, int) else -1, (PlatformRefused.REFUSED, ERR_REFUSED))
    return PlatformRefused(reason, message.format(sender=sender))


class SmsAdapter(Adapter):
    channel_type = "sms"
    platform = PLATFORM
    identity_fields = [
        FieldSpec("sender_id", "Sender ID", max_length=16, pattern=SENDER_ID, rule=SENDER_ID_RULE,
                  help="The international SMS sender ID registered for your brand, or the sending number."),
        FieldSpec("account_sid", "Account SID", max_length=34, pattern=r"AC[0-9a-fA-F]{32}",
                  rule="must be the account SID the Twilio console shows: AC and 32 hexadecimal characters",
                  help="Twilio console → Account info → Account SID."),
        FieldSpec("auth_token", "Auth token", secret=True, max_length=32, pattern=r"[0-9A-Za-z]{32}",
                  rule="must be the 32-character auth token the Twilio console shows",
                  help="Twilio console → Account info → Auth token."),
    ]
    recipient_label = "Phone number"
    recipient_help = "The number in international form, e.g. +4915112345678."
    recipient_pattern = r"\+[1-9][0-9]{6,14}"
    recipient_rule = "must be a phone number in international form: + and 7 to 15 digits"
    sent_event_name = "SMS Sent"
    sent_event_code = "MOE_SMS_SENT"
    recipient_attribute = "mobile_number"

    def fetch_account(self, credentials: dict) -> Account:
        sid, token, sender = (clean(credentials, k) for k in ("account_sid", "auth_token", "sender_id"))
        response = _http.request("GET", settings.MKTOPS_SMS_API_URL, f"{API}/{quote(sid, safe='')}.json",
                                 platform=PLATFORM, auth=(sid, token))
        if response.status != 200:
            raise _refusal(response, sid=sid, sender=sender)
        data = response.json()
        status = _text(data.get("status"))
        if not status:
            raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
        if status != "active":
            raise PlatformRefused(PlatformRefused.REFUSED, ERR_SUSPENDED.format(
                status=status if status in ("suspended", "closed") else "not active"))
        details = {"sender_id": sender, "account_name": _text(data.get("friendly_name")),
                   "account_status": status, "account_type": _text(data.get("type"))}
        return Account(account_id=f"{sender}@{sid}", details=details)

    def send_test(self, credentials: dict, *, to: str, text: str) -> SentMessage:
        sid, token, sender = (clean(credentials, k) for k in ("account_sid", "auth_token", "sender_id"))
        response = _http.request("POST", settings.MKTOPS_SMS_API_URL, f"{API}/{quote(sid, safe='')}/Messages.json",
                                 platform=PLATFORM, auth=(sid, token),
                                 form={"To": self.validate_recipient(to), "From": sender, "Body": text})
        if response.status not in (200, 201):
            raise _refusal(response, sid=sid, sender=sender)
        message_id = _text(response.json().get("sid"))
        if not message_id:
            raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
        return SentMessage(message_id=message_id)

    def sent_message_content(self, credentials: dict, *, to: str, text: str, message_id: str) -> dict | None:
        return {"to": to, "sender": clean(credentials, "sender_id"), "body": text}
