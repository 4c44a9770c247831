"""One HTTP request to a platform API whose base URL is ours (a setting), for the adapters.

The URLs come from settings, never from a tenant, so they do not go through `mktops.net`; still,
no redirect is followed (a 3xx is an answer), no proxy from the environment is used, the timeout
is `MKTOPS_CHANNEL_TIMEOUT_SECONDS`, and at most `MAX_BODY` bytes of an answer are read.

What cannot be an answer becomes `PlatformUnavailable` here (timeout, connection error, a 5xx, a
429); every other status is returned for the adapter to read in the platform's own terms.
"""

from __future__ import annotations

import http.client
import json
import ssl
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from django.conf import settings

from channels.providers.base import PlatformUnavailable

MAX_BODY = 1024 * 1024
USER_AGENT = "mktops-channels/1"

ERR_TIMEOUT = "{platform} did not answer within {seconds} seconds. mktops will ask again later; nothing is wrong " \
              "with the channel's settings as far as we know."
ERR_CONNECTION = "mktops could not connect to {platform}. mktops will ask again later; if it lasts, the platform " \
                 "may be down (check its status page)."
ERR_SERVER = "{platform} had an internal error and could not answer. mktops will ask again later."
ERR_RATE_LIMITED = "{platform} asked mktops to slow down (too many requests). mktops will ask again later."


@dataclass(frozen=True)
class Response:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    def json(self) -> dict:
        """The body as a JSON object, or {} when it is not one (an HTML error page, garbage)."""
        try:
            value = json.loads(self.body)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}


def timeout_seconds() -> int:
    return settings.MKTOPS_CHANNEL_TIMEOUT_SECONDS


def retry_after(headers: dict[str, str]) -> int | None:
    raw = headers.get("retry-after", "").strip()
    return int(raw) if raw.isdigit() else None


def request(method: str, base_url: str, path: str, *, platform: str, query: dict | None = None,
            headers: dict | None = None, json_body: dict | None = None, form: dict | None = None,
            auth: tuple[str, str] | None = None) -> Response:
    """`method` `base_url` + `path` (+ `query`); the answer, or PlatformUnavailable."""
    parts = urlsplit(base_url)
    target = (parts.path.rstrip("/") + path) + (f"?{urlencode(query)}" if query else "")
    sent = {"User-Agent": USER_AGENT, "Accept": "application/json", **(headers or {})}
    body = None
    if json_body is not None:
        body = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    elif form is not None:
        body = urlencode(form).encode()
        sent["Content-Type"] = "application/x-www-form-urlencoded"
    if auth is not None:
        import base64

        sent["Authorization"] = "Basic " + base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
    seconds = timeout_seconds()
    connection = _connection(parts, seconds)
    try:
        connection.request(method, target, body=body, headers=sent)
        answer = connection.getresponse()
        data = answer.read(MAX_BODY)
        response = Response(answer.status, {k.lower(): v for k, v in answer.getheaders()}, data)
    except TimeoutError:
        raise PlatformUnavailable(PlatformUnavailable.TIMEOUT,
                                  ERR_TIMEOUT.format(platform=platform, seconds=seconds)) from None
    except (OSError, http.client.HTTPException):
        raise PlatformUnavailable(PlatformUnavailable.CONNECTION, ERR_CONNECTION.format(platform=platform)) from None
    finally:
        connection.close()
    if response.status == 429:
        raise PlatformUnavailable(PlatformUnavailable.RATE_LIMITED, ERR_RATE_LIMITED.format(platform=platform),
                                  retry_after=retry_after(response.headers))
    if response.status >= 500:
        raise PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_SERVER.format(platform=platform),
                                  retry_after=retry_after(response.headers))
    return response


def rate_limited(platform: str, headers: dict[str, str] | None = None) -> PlatformUnavailable:
    """The error for a rate limit the platform says in its body rather than with a 429."""
    return PlatformUnavailable(PlatformUnavailable.RATE_LIMITED, ERR_RATE_LIMITED.format(platform=platform),
                               retry_after=retry_after(headers or {}))


def _connection(parts, seconds: int) -> http.client.HTTPConnection:
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port or 443, timeout=seconds,
                                           context=ssl.create_default_context())
    return http.client.HTTPConnection(parts.hostname, parts.port or 80, timeout=seconds)
