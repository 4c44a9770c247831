"""HTTP to tenant webhook endpoints: the only module that opens those connections.

The host is resolved and checked by the core guard (`mktops.net`), and the
connection goes to the very address that was checked (no second lookup): the
Host header and TLS (SNI and the certificate check) still use the host name.
Redirects are never followed (a 3xx is the endpoint's answer), the timeout is
15 s, and at most `EXCERPT_BYTES` of the answer are read.

Failures raise `EndpointError` with a reason code and a sentence in our words;
what the far side sent is returned as data (`Response.excerpt`), never put in
the sentence.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.conf import settings

from mktops.errors import OutsideError

try:
    from mktops import net
except ImportError:  # the core guard has not landed yet: fail closed (see _checked_address)
    net = None

TIMEOUT_SECONDS = 15
EXCERPT_BYTES = 1024
USER_AGENT = "mktops-webhooks/1"


class EndpointError(OutsideError):
    TIMEOUT = "timeout"
    CONNECTION_REFUSED = "connection_refused"
    CONNECTION = "connection"
    TLS = "tls"
    DNS = "dns"
    BLOCKED = "blocked"


MESSAGES = {
    EndpointError.TIMEOUT: f"The endpoint did not answer within {TIMEOUT_SECONDS} seconds. "
                           "Check that it is up and answers quickly (queue slow work on your side).",
    EndpointError.CONNECTION_REFUSED: "The endpoint's host refused the connection: nothing listens on that "
                                      "port. Check the URL's port and that the service is running.",
    EndpointError.CONNECTION: "The connection to the endpoint failed or was cut. Check that the host is "
                              "reachable from the internet.",
    EndpointError.TLS: "The TLS handshake with the endpoint failed (certificate not valid for this host "
                       "name, expired, or not trusted). Install a valid certificate.",
    EndpointError.DNS: "The endpoint's host name does not resolve. Check the URL.",
    EndpointError.BLOCKED: "The endpoint's host resolves to an address that is not public (private, loopback, "
                           "link-local or reserved); mktops does not connect to it.",
}


def _error(reason: str) -> EndpointError:
    return EndpointError(reason, MESSAGES[reason])


@dataclass
class Response:
    status: int
    latency_ms: int
    headers: dict[str, str] = field(default_factory=dict)  # names lower-cased
    excerpt: bytes = b""


def _host_port(url: str) -> tuple[str, int, str, str]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return parts.hostname or "", port, parts.scheme, path


def _checked_address(host: str, port: int) -> str:
    """The address to connect to, as the core guard resolved and checked it."""
    if net is not None:
        try:
            return net.resolve_checked(host, port)
        except net.BlockedAddress:
            raise _error(EndpointError.BLOCKED) from None
        except net.UnresolvedHost:
            raise _error(EndpointError.DNS) from None
    if not settings.MKTOPS_ALLOW_PRIVATE_TARGETS:
        raise _error(EndpointError.BLOCKED)
    try:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][4][0]
    except socket.gaierror:
        raise _error(EndpointError.DNS) from None


def url_check(url: str) -> None:
    """The check made when an endpoint is saved (it is made again at every connect)."""
    host, port, _, _ = _host_port(url)
    _checked_address(host, port)


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self):
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, address, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self):
        sock = socket.create_connection((self._address, self.port), self.timeout)
        # SNI and the certificate check are against the host name, not the address
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` once; any HTTP answer is a Response, anything else an EndpointError."""
    host, port, scheme, path = _host_port(url)
    address = _checked_address(host, port)
    kind = _PinnedHTTPSConnection if scheme == "https" else _PinnedHTTPConnection
    conn = kind(host, port, address=address, timeout=TIMEOUT_SECONDS)
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    started = time.monotonic()
    try:
        conn.request("POST", path, body=body, headers=sent)
        answer = conn.getresponse()
        excerpt = answer.read(EXCERPT_BYTES)
        return Response(status=answer.status, latency_ms=int((time.monotonic() - started) * 1000),
                        headers={k.lower(): v for k, v in answer.getheaders()}, excerpt=excerpt)
    except TimeoutError:
        raise _error(EndpointError.TIMEOUT) from None
    except ConnectionRefusedError:
        raise _error(EndpointError.CONNECTION_REFUSED) from None
    except ssl.SSLError:
        raise _error(EndpointError.TLS) from None
    except (OSError, http.client.HTTPException):
        raise _error(EndpointError.CONNECTION) from None
    finally:
        conn.close()
