"""Viber business accounts (bots) over the Viber REST bot API: the only module that talks to Viber.

Base URL: `settings.MKTOPS_VIBER_API_URL` (default https://chatapi.viber.com/pa). Every call is a POST
with the bot's token in `X-Viber-Auth-Token`, and every answer is HTTP 200 with a `status`: 0 is success,
anything else is the reason (`status_message` names it). `get_account_info` gives the bot's `id`
(`pa:…`), name, URI, category and subscriber count; `send_message` sends the test text and answers a
`message_token`.

Each status is said in our words; Viber's `status_message` is never repeated.
"""

from __future__ import annotations

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

PLATFORM = "Viber"
SENDER_NAME_CHARS = 28  # Viber's limit on sender.name

ERR_CREDENTIALS_REFUSED = ("Viber says the bot's token is not valid. Copy the token again from the Viber admin panel "
                           "(Edit info → Your app key) and bind again.")
ERR_NOT_FOUND = "Viber says there is no bot with this token any more. Check the bot in the Viber admin panel."
ERR_BLOCKED = ("Viber says the bot is blocked or suspended. Check its standing with Viber (the admin panel or "
               "Viber's support) before binding again.")
ERR_NO_WEBHOOK = ("Viber says the bot has no webhook set, and it sends nothing until it has one. Set the bot's "
                  "webhook, then try again.")
ERR_RECEIVER = ("Viber says the receiver is not a subscriber of the bot or cannot receive its messages. Send the "
                "test to someone who has subscribed to the bot.")
ERR_BAD_REQUEST = "Viber refused the request as malformed. This is a fault on our side; tell the platform team."
ERR_REFUSED = ("Viber refused the request for a reason mktops does not recognise. Check that the bot is active "
               "in the Viber admin panel.")
ERR_NOT_AN_ANSWER = "Viber answered with something that is not a Viber API answer. mktops will ask again."

STATUS_REFUSALS = {
    2: (PlatformRefused.INVALID_TOKEN, ERR_CREDENTIALS_REFUSED),       # invalidAuthToken
    8: (PlatformRefused.NOT_FOUND, ERR_NOT_FOUND),               # publicAccountNotFound
    7: (PlatformRefused.REFUSED, ERR_BLOCKED),                   # publicAccountBlocked
    9: (PlatformRefused.REFUSED, ERR_BLOCKED),                   # publicAccountSuspended
    10: (PlatformRefused.REFUSED, ERR_NO_WEBHOOK),               # webhookNotSet
    5: (PlatformRefused.REFUSED, ERR_RECEIVER),                  # receiverNotRegistered
    6: (PlatformRefused.REFUSED, ERR_RECEIVER),                  # receiverNotSubscribed
    11: (PlatformRefused.REFUSED, ERR_RECEIVER),                 # receiverNoSuitableDevice
    1: (PlatformRefused.REFUSED, ERR_BAD_REQUEST),               # invalidUrl
    3: (PlatformRefused.REFUSED, ERR_BAD_REQUEST),               # badData
    4: (PlatformRefused.REFUSED, ERR_BAD_REQUEST),               # missingData
}
STATUS_RATE_LIMITED = 12  # tooManyRequests


def _call(method: str, token: str, body: dict) -> dict:
    response = _http.request("POST", settings.MKTOPS_VIBER_API_URL, f"/{method}", platform=PLATFORM,
                             json_body=body, headers={"X-Viber-Auth-Token": token})
    data = response.json()
    status = data.get("status")
    if response.status != 200 or not isinstance(status, int) or isinstance(status, bool):
        if response.status in (401, 403):
            raise PlatformRefused(PlatformRefused.INVALID_TOKEN, ERR_CREDENTIALS_REFUSED)
        raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
    if status == 0:
        return data
    if status == STATUS_RATE_LIMITED:
        raise _http.rate_limited(PLATFORM, response.headers)
    reason, message = STATUS_REFUSALS.get(status, (PlatformRefused.REFUSED, ERR_REFUSED))
    raise PlatformRefused(reason, message)


def _text(value) -> str:
    return "" if value is None else str(value)[:255]


class ViberAdapter(Adapter):
    channel_type = "viber"
    platform = PLATFORM
    identity_fields = [
        FieldSpec("auth_token", "Bot auth token", secret=True, max_length=100, pattern=r"[0-9A-Za-z-]{20,100}",
                  rule="must be the bot's token as the Viber admin panel shows it: letters, digits and hyphens",
                  help="Viber admin panel → your bot → Edit info → Your app key."),
    ]
    recipient_label = "Viber user ID"
    recipient_help = "The Viber user ID of a subscriber of the bot."
    recipient_pattern = r"[A-Za-z0-9+/=]{4,64}"
    recipient_rule = "must be a Viber user ID (letters, digits, +, / and =)"
    sent_event_name = "Viber Sent"
    sent_event_code = "VIBER_SENT"

    def fetch_account(self, credentials: dict) -> Account:
        data = _call("get_account_info", clean(credentials, "auth_token"), {})
        account_id = _text(data.get("id"))
        if not account_id:
            raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
        details = {name: _text(data.get(name)) for name in ("name", "uri", "category", "country")
                   if data.get(name) is not None}
        if isinstance(data.get("subscribers_count"), int):
            details["subscribers_count"] = str(data["subscribers_count"])
        return Account(account_id=account_id, details=details)

    def send_test(self, credentials: dict, *, to: str, text: str) -> SentMessage:
        receiver = self.validate_recipient(to)
        token = clean(credentials, "auth_token")
        # the sender's name is required; the bot's own, as Viber knows it
        name = _text(_call("get_account_info", token, {}).get("name")) or "Test"
        data = _call("send_message", token, {
            "receiver": receiver, "min_api_version": 1, "sender": {"name": name[:SENDER_NAME_CHARS]},
            "tracking_data": "mktops-test-send", "type": "text", "text": text,
        })
        token_id = _text(data.get("message_token"))
        if not token_id:
            raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
        return SentMessage(message_id=token_id)
