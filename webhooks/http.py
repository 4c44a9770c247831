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

from mktops import net
from mktops.errors import OutsideError

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
    BAD_URL = "bad_url"


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
    EndpointError.BAD_URL: "The endpoint's URL is not one mktops sends to (it must be https:// with a host "
                           "name and no user name or password). Edit the endpoint's URL.",
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


def url_check(url: str) -> net.CheckedUrl:
    """The URL checked by the core guard (scheme, host, every address public); done when an
    endpoint is saved and again before every POST, whose connection goes to these addresses."""
    try:
        return net.url_check(url)
    except net.BlockedAddress:
        raise _error(EndpointError.BLOCKED) from None
    except net.UnresolvedHost:
        raise _error(EndpointError.DNS) from None
    except net.AddressRefused:
        raise _error(EndpointError.BAD_URL) from None


def _connect(addresses: tuple[str, ...], port: int, timeout: float) -> socket.socket:
    """A connection to one of the checked addresses, in the resolver's order (no second lookup)."""
    last: OSError | None = None
    for address in addresses:
        try:
            return socket.create_connection((address, port), timeout)
        except OSError as exc:
            last = exc
    raise last


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host, port, *, addresses, timeout):
        super().__init__(host, port, timeout=timeout)
        self._addresses = addresses

    def connect(self):
        self.sock = _connect(self._addresses, self.port, self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host, port, *, addresses, timeout):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._addresses = addresses

    def connect(self):
        sock = _connect(self._addresses, self.port, self.timeout)
        # SNI and the certificate check are against the host name, not the address
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` once; any HTTP answer is a Response, anything else an EndpointError."""
    checked = url_check(url)
    kind = _PinnedHTTPSConnection if checked.scheme == "https" else _PinnedHTTPConnection
    conn = kind(checked.host, checked.port, addresses=checked.addresses, timeout=TIMEOUT_SECONDS)
    sent = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **headers}
    started = time.monotonic()
    try:
        conn.request("POST", checked.target, body=body, headers=sent)
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
