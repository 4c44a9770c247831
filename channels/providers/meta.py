"""WhatsApp, Messenger and Instagram over Meta's Graph API: the only module that talks to Graph.

Base URL: `settings.MKTOPS_META_GRAPH_URL` (default https://graph.facebook.com/v21.0). Every call
carries the channel's token as `Authorization: Bearer …`.

- The token first: `GET /debug_token?input_token=<token>` gives `is_valid`, `expires_at` (0 = never)
  and `scopes`; a token without a permission the channel type needs is refused by name.
- Then the bound object: WhatsApp `GET /{phone-number-id}?fields=verified_name,display_phone_number,
  quality_rating,messaging_limit_tier,name_status,status`, Messenger `GET /{page-id}?fields=name`,
  Instagram `GET /{ig-user-id}?fields=username,name`.
- A test message: `POST /{phone-number-id}/messages` (WhatsApp Cloud API), `POST /{page-id}/messages`
  (Send API), `POST /{ig-user-id}/messages` (Instagram messaging).

Graph errors are `{"error": {"message", "type", "code", "error_subcode", "fbtrace_id"}}`: 190 an invalid
or expired token, 100 an object that does not exist or is not reachable with this token, 10 and 200–299
a missing permission, 4 / 17 / 32 / 613 / 80007 / 130429 rate limits, 1 / 2 or `is_transient` Meta's
own trouble. Each is said in our words; Meta's message is never repeated, only permission names we know.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
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

PLATFORM = "Meta's Graph API"

GRAPH_ID = r"[0-9]{5,25}"
GRAPH_ID_RULE = "must be the numeric ID Meta shows (digits only, 5 to 25 of them)"
TOKEN = r"[A-Za-z0-9._|\-]{20,}"  # noqa: S105 - a shape
TOKEN_RULE = "must be the access token as Meta shows it: at least 20 letters and digits, no spaces"  # noqa: S105

WHATSAPP_FIELDS = "verified_name,display_phone_number,quality_rating,messaging_limit_tier,name_status,status"

# permission names Meta's messages may name; only these are ever repeated to an operator
KNOWN_PERMISSIONS = frozenset({
    "whatsapp_business_management", "whatsapp_business_messaging", "business_management",
    "pages_messaging", "pages_show_list", "pages_manage_metadata", "pages_read_engagement",
    "instagram_basic", "instagram_manage_messages", "instagram_manage_comments",
    "instagram_business_basic", "instagram_business_manage_messages",
})
RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80007, 130429, 131048, 131056})
TRANSIENT_CODES = frozenset({1, 2})

ERR_CREDENTIALS_REFUSED = ("Meta says the access token is not valid or has expired (it may have been revoked, or its "
                           "user's password or permissions changed). Generate a new token in Meta Business Manager and "
                           "bind again.")
ERR_NOT_FOUND = ("Meta says the {what} {id} does not exist or cannot be reached with this access token. Check the "
                 "ID, and that the token's (system) user was given access to it in Meta Business Manager.")
ERR_MISSING_PERMISSION = ("Meta says the access token lacks a permission this channel needs{names}. Grant it to the "
                          "token in Meta Business Manager and bind again.")
ERR_REFUSED = ("Meta refused the request for a reason mktops does not recognise. Check that the account is "
               "active and in good standing in Meta Business Manager, and that the token has every permission "
               "this channel needs.")
ERR_NOT_AN_ANSWER = "Meta's Graph API answered with something that is not a Graph API answer. mktops will ask again."
ERR_NO_MESSAGE_ID = "Meta accepted the message but did not say its id; look for it in Meta's logs."


def _base() -> str:
    return settings.MKTOPS_META_GRAPH_URL


def _names(names) -> str:
    return (": " + ", ".join(names)) if names else ""


def graph_error(response: _http.Response, *, what: str, object_id: str) -> Exception:
    """The exception for a Graph answer that is not a success (never Meta's own words)."""
    error = response.json().get("error")
    if not isinstance(error, dict):
        return PlatformRefused(PlatformRefused.REFUSED, ERR_REFUSED)
    code = error.get("code")
    code = code if isinstance(code, int) else -1
    if code in RATE_LIMIT_CODES:
        return _http.rate_limited(PLATFORM, response.headers)
    if code in TRANSIENT_CODES or error.get("is_transient") is True:
        return PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, _http.ERR_SERVER.format(platform=PLATFORM))
    if code == 190:
        return PlatformRefused(PlatformRefused.INVALID_TOKEN, ERR_CREDENTIALS_REFUSED)
    if code == 100:
        return PlatformRefused(PlatformRefused.NOT_FOUND, ERR_NOT_FOUND.format(what=what, id=object_id))
    if code == 10 or 200 <= code <= 299:
        message = error.get("message")
        named = sorted(set(re.findall(r"[a-z_]+", message)) & KNOWN_PERMISSIONS) if isinstance(message, str) else []
        return PlatformRefused(PlatformRefused.MISSING_PERMISSION, ERR_MISSING_PERMISSION.format(names=_names(named)),
                               missing_permissions=named)
    return PlatformRefused(PlatformRefused.REFUSED, ERR_REFUSED)


def _get(path: str, token: str, *, what: str, object_id: str, query: dict | None = None) -> dict:
    response = _http.request("GET", _base(), path, platform=PLATFORM, query=query,
                             headers={"Authorization": f"Bearer {token}"})
    return _answer(response, what=what, object_id=object_id)


def _post(path: str, token: str, body: dict, *, what: str, object_id: str) -> dict:
    response = _http.request("POST", _base(), path, platform=PLATFORM, json_body=body,
                             headers={"Authorization": f"Bearer {token}"})
    return _answer(response, what=what, object_id=object_id)


def _answer(response: _http.Response, *, what: str, object_id: str) -> dict:
    if response.status != 200:
        raise graph_error(response, what=what, object_id=object_id)
    data = response.json()
    if not data:
        raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
    if "error" in data:
        raise graph_error(response, what=what, object_id=object_id)
    return data


def _segment(value: str) -> str:
    """An ID as one path segment (validated as digits already; quoted all the same)."""
    return quote(value, safe="")


def _text(value) -> str:
    return "" if value is None else str(value)[:255]


class GraphAdapter(Adapter):
    """What the three Graph channel types share: the token check and the Graph error words."""

    platform = PLATFORM
    id_field = ""
    object_label = ""
    object_fields = ""
    required_scopes: tuple[str, ...] = ()

    def token_info(self, token: str) -> tuple[datetime | None, tuple[str, ...]]:
        """(expiry or None for never, scopes) from debug_token; refused when the token is not valid
        or lacks one of `required_scopes`."""
        data = _get("/debug_token", token, what="access token", object_id="", query={"input_token": token})
        info = data.get("data")
        if not isinstance(info, dict):
            raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_NOT_AN_ANSWER)
        if info.get("is_valid") is not True:
            raise PlatformRefused(PlatformRefused.INVALID_TOKEN, ERR_CREDENTIALS_REFUSED)
        scopes = tuple(s for s in info.get("scopes") or () if isinstance(s, str))
        missing = [s for s in self.required_scopes if s not in scopes]
        if missing:
            raise PlatformRefused(PlatformRefused.MISSING_PERMISSION,
                                  ERR_MISSING_PERMISSION.format(names=_names(missing)), missing_permissions=missing)
        expires = info.get("expires_at")
        expires_at = datetime.fromtimestamp(expires, tz=UTC) if isinstance(expires, int) and expires > 0 else None
        return expires_at, scopes

    def fetch_account(self, credentials: dict) -> Account:
        token, object_id = clean(credentials, "access_token"), clean(credentials, self.id_field)
        expires_at, scopes = self.token_info(token)
        data = _get(f"/{_segment(object_id)}", token, what=self.object_label, object_id=object_id,
                    query={"fields": self.object_fields})
        return Account(account_id=_text(data.get("id")) or object_id, details=self.details(data, credentials),
                       token_expires_at=expires_at, granted_scopes=scopes)

    def details(self, data: dict, credentials: dict) -> dict[str, str]:
        return {name: _text(data.get(name)) for name in self.object_fields.split(",") if data.get(name) is not None}

    def send_test(self, credentials: dict, *, to: str, text: str) -> SentMessage:
        token, object_id = clean(credentials, "access_token"), clean(credentials, self.id_field)
        data = _post(f"/{_segment(object_id)}/messages", token, self.message_body(self.validate_recipient(to), text),
                     what=self.object_label, object_id=object_id)
        message_id = self.message_id(data)
        if not message_id:
            raise PlatformRefused(PlatformRefused.REFUSED, ERR_NO_MESSAGE_ID)
        return SentMessage(message_id=message_id)

    def message_body(self, to: str, text: str) -> dict:
        return {"recipient": {"id": to}, "messaging_type": "RESPONSE", "message": {"text": text}}

    def message_id(self, data: dict) -> str:
        return _text(data.get("message_id"))


class WhatsAppAdapter(GraphAdapter):
    channel_type = "whatsapp"
    id_field = "phone_number_id"
    object_label = "WhatsApp phone number"
    object_fields = WHATSAPP_FIELDS
    required_scopes = ("whatsapp_business_management", "whatsapp_business_messaging")
    identity_fields = [
        FieldSpec("phone_number_id", "Phone number ID", max_length=25, pattern=GRAPH_ID, rule=GRAPH_ID_RULE,
                  help="WhatsApp Manager → Phone numbers: the Phone number ID (not the phone number itself)."),
        FieldSpec("waba_id", "WhatsApp Business Account ID", max_length=25, pattern=GRAPH_ID, rule=GRAPH_ID_RULE,
                  help="WhatsApp Manager → Account tools: the WhatsApp Business Account ID."),
        FieldSpec("access_token", "Access token", secret=True, max_length=1024, pattern=TOKEN, rule=TOKEN_RULE,
                  help="A system user's token with whatsapp_business_management and whatsapp_business_messaging."),
    ]
    recipient_label = "WhatsApp number"
    recipient_help = "The number in international form, e.g. +4915112345678."
    recipient_pattern = r"\+?[1-9][0-9]{6,14}"
    recipient_rule = "must be a phone number in international form: + and 7 to 15 digits"
    sent_event_name = "WhatsApp Sent"
    sent_event_code = "WHATSAPP_SENT"
    recipient_attribute = "mobile_number"

    def details(self, data: dict, credentials: dict) -> dict[str, str]:
        return {**super().details(data, credentials), "waba_id": clean(credentials, "waba_id")}

    def message_body(self, to: str, text: str) -> dict:
        return {"messaging_product": "whatsapp", "recipient_type": "individual", "to": to.lstrip("+"),
                "type": "text", "text": {"preview_url": False, "body": text}}

    def message_id(self, data: dict) -> str:
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return _text(messages[0].get("id"))
        return ""


class MessengerAdapter(GraphAdapter):
    channel_type = "messenger"
    id_field = "page_id"
    object_label = "Facebook Page"
    object_fields = "name"
    required_scopes = ("pages_messaging",)
    identity_fields = [
        FieldSpec("page_id", "Page ID", max_length=25, pattern=GRAPH_ID, rule=GRAPH_ID_RULE,
                  help="The Page's About → Page transparency: Page ID."),
        FieldSpec("access_token", "Page access token", secret=True, max_length=1024, pattern=TOKEN, rule=TOKEN_RULE,
                  help="A Page access token with pages_messaging."),
    ]
    recipient_label = "Page-scoped user ID"
    recipient_help = "The PSID of a person who has messaged the Page."
    recipient_pattern = r"[0-9]{5,25}"
    recipient_rule = "must be a page-scoped user ID (digits only)"
    sent_event_name = "Messenger Sent"
    sent_event_code = "MESSENGER_SENT"

    def details(self, data: dict, credentials: dict) -> dict[str, str]:
        return {"page_name": _text(data.get("name"))}


class InstagramAdapter(GraphAdapter):
    channel_type = "instagram"
    id_field = "ig_user_id"
    object_label = "Instagram account"
    object_fields = "username,name"
    required_scopes = ("instagram_basic", "instagram_manage_messages")
    identity_fields = [
        FieldSpec("ig_user_id", "Instagram account ID", max_length=25, pattern=GRAPH_ID, rule=GRAPH_ID_RULE,
                  help="The Instagram professional account's ID (linked to a Facebook Page)."),
        FieldSpec("access_token", "Access token", secret=True, max_length=1024, pattern=TOKEN, rule=TOKEN_RULE,
                  help="A token with instagram_basic and instagram_manage_messages."),
    ]
    recipient_label = "Instagram-scoped user ID"
    recipient_help = "The IGSID of a person who has messaged the account."
    recipient_pattern = r"[0-9]{5,25}"
    recipient_rule = "must be an Instagram-scoped user ID (digits only)"
    sent_event_name = "Instagram Sent"
    sent_event_code = "INSTAGRAM_SENT"
