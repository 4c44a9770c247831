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

import socket
import ssl
import time
from dataclasses import dataclass, field

from django.conf import settings

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
    except net.AddressRefused as exc:
        raise _refused(exc) from None


def _refused(exc: net.AddressRefused) -> EndpointError:
    if isinstance(exc, net.BlockedAddress):
        return _error(EndpointError.BLOCKED)
    if isinstance(exc, net.UnresolvedHost):
        return _error(EndpointError.DNS)
    return _error(EndpointError.BAD_URL)


def _tls_context() -> ssl.SSLContext:
    """The system's trusted CAs, and `MKTOPS_WEBHOOK_CA_BUNDLE`'s too when it is set (a private CA
    of the demo or a test; a tenant's endpoint needs a publicly trusted certificate)."""
    context = ssl.create_default_context()
    bundle = getattr(settings, "MKTOPS_WEBHOOK_CA_BUNDLE", "")
    if bundle:
        context.load_verify_locations(cafile=bundle)
    return context


class ProtocolError(Exception):
    """The far side's answer is not HTTP/1.1 as we read it (recorded as a connection failure)."""


def _connect(checked: net.CheckedUrl) -> socket.socket:
    """A connection through the core guard: resolved, checked, and made to the very address checked
    (`mktops.net.connect_tcp`); TLS (SNI and the certificate check) against the host name."""
    sock = net.connect_tcp(checked.host, checked.port, TIMEOUT_SECONDS)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if checked.scheme != "https":
        return sock
    try:
        return _tls_context().wrap_socket(sock, server_hostname=checked.host)
    except BaseException:
        sock.close()
        raise


class Sender:
    """POSTs to one endpoint URL over one keep-alive HTTP/1.1 connection, reconnecting when needed.

    The URL is checked (`url_check`) at every connect: a DNS answer that changed since the save
    (rebinding) is refused before anything is sent. Each request goes out in one write; the answer
    is read with limits (status line and headers at most `HEAD_BYTES`, the body's first
    `EXCERPT_BYTES` kept and at most `DRAIN_BYTES` more read to reuse the connection, else it is
    closed), and the whole exchange within `TIMEOUT_SECONDS`. Redirects are answers, not followed.
    """

    # a connection idle this long is made again rather than reused: a server may have closed it
    # meanwhile, and a POST on a dead keep-alive connection cannot be told from a lost one
    IDLE_SECONDS = 2.0
    HEAD_BYTES = 64 * 1024
    DRAIN_BYTES = 64 * 1024

    def __init__(self, url: str):
        self.url = url
        self._checked: net.CheckedUrl | None = None
        self._sock: socket.socket | None = None
        self._file = None
        self._used_at = 0.0
        self._deadline = 0.0

    def _connection(self) -> None:
        if self._sock is not None and time.monotonic() - self._used_at > self.IDLE_SECONDS:
            self.close()
        if self._sock is None:
            self._checked = url_check(self.url)
            self._sock = _connect(self._checked)
            self._file = self._sock.makefile("rb")

    def _request(self, body: bytes, headers: dict[str, str]) -> bytes:
        checked = self._checked
        host = f"[{checked.host}]" if ":" in checked.host else checked.host
        default = 443 if checked.scheme == "https" else 80
        lines = [f"POST {checked.target} HTTP/1.1", f"Host: {host}" + ("" if checked.port == default
                                                                       else f":{checked.port}"),
                 "Content-Type: application/json", f"User-Agent: {USER_AGENT}", f"Content-Length: {len(body)}"]
        for name, value in headers.items():
            if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
                raise ValueError("a header carries a line break")
            lines.append(f"{name}: {value}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body

    def post(self, body: bytes, headers: dict[str, str]) -> Response:
        """POST `body` once; any HTTP answer is a Response, anything else an EndpointError."""
        started = time.monotonic()
        self._deadline = started + TIMEOUT_SECONDS
        try:
            self._connection()
            self._sock.sendall(self._request(body, headers))
            status, answer_headers, keep_alive = self._head()
            excerpt, reusable = (b"", True) if status in (204, 304) else self._body(answer_headers)
            if not (reusable and keep_alive):
                self.close()
            self._used_at = time.monotonic()
            return Response(status=status, latency_ms=int((time.monotonic() - started) * 1000),
                            headers=answer_headers, excerpt=excerpt)
        except BaseException as exc:
            self.close()
            raise _translated(exc) from None

    def _line(self, budget: list[int]) -> bytes:
        if time.monotonic() > self._deadline:
            raise TimeoutError
        line = self._file.readline(budget[0] + 1)
        budget[0] -= len(line)
        if not line:
            raise ProtocolError("the connection closed before the answer")
        if budget[0] < 0:
            raise ProtocolError("the answer's head is too long")
        return line

    def _head(self) -> tuple[int, dict[str, str], bool]:
        """The status, the headers (names lower-cased) after any 1xx interim answers, and whether
        the far side keeps the connection open (HTTP/1.1 unless it says close; 1.0 if it says so)."""
        budget = [self.HEAD_BYTES]
        while True:
            parts = self._line(budget).split(None, 2)
            if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
                raise ProtocolError("not an HTTP/1.x status line")
            status, headers = int(parts[1]), {}
            while (line := self._line(budget)) not in (b"\r\n", b"\n"):
                name, sep, value = line.decode("latin-1").partition(":")
                if not sep:
                    raise ProtocolError("a header line without a colon")
                name = name.strip().lower()
                headers[name] = f"{headers[name]}, {value.strip()}" if name in headers else value.strip()
            if not 100 <= status < 200:
                connection = headers.get("connection", "").lower()
                keep_alive = "keep-alive" in connection if parts[0] == b"HTTP/1.0" else "close" not in connection
                return status, headers, keep_alive

    def _read(self, size: int) -> bytes:
        if time.monotonic() > self._deadline:
            raise TimeoutError
        return self._file.read(size)

    def _body(self, headers: dict[str, str]) -> tuple[bytes, bool]:
        """The body's first EXCERPT_BYTES, and whether the connection can carry the next request."""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return self._chunked()
        length = headers.get("content-length", "")
        if not length.isdigit():  # read to the end of the connection: up to the excerpt, then close
            return self._read(EXCERPT_BYTES), False
        length = int(length)
        excerpt = self._read(min(length, EXCERPT_BYTES))
        rest = length - len(excerpt)
        if len(excerpt) < min(length, EXCERPT_BYTES) or rest > self.DRAIN_BYTES:
            return excerpt, False
        while rest > 0:
            chunk = self._read(min(rest, 16384))
            if not chunk:
                return excerpt, False
            rest -= len(chunk)
        return excerpt, True

    def _chunked(self) -> tuple[bytes, bool]:
        data, budget = bytearray(), [self.HEAD_BYTES]
        while True:
            size_text = self._line(budget).split(b";", 1)[0].strip()
            try:
                size = int(size_text, 16)
            except ValueError:
                raise ProtocolError("a bad chunk size") from None
            if size == 0:
                while self._line(budget) not in (b"\r\n", b"\n"):  # trailers
                    pass
                return bytes(data[:EXCERPT_BYTES]), True
            if len(data) + size > EXCERPT_BYTES + self.DRAIN_BYTES:
                return bytes(data[:EXCERPT_BYTES]), False
            chunk = self._read(size + 2)
            if len(chunk) < size + 2:
                return bytes(data[:EXCERPT_BYTES]), False
            data += chunk[:size]

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._file.close()
                self._sock.close()
            except OSError:
                pass
            self._sock = self._file = None

    def __enter__(self) -> Sender:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _translated(exc: BaseException) -> BaseException:
    """Our error for what went wrong on the wire (anything else, e.g. KeyboardInterrupt, as is)."""
    if isinstance(exc, EndpointError):
        return exc
    if isinstance(exc, net.AddressRefused):  # at a reconnect: the name now resolves elsewhere
        return _refused(exc)
    if isinstance(exc, TimeoutError):
        return _error(EndpointError.TIMEOUT)
    if isinstance(exc, ConnectionRefusedError):
        return _error(EndpointError.CONNECTION_REFUSED)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return _error(EndpointError.TLS)
    if isinstance(exc, OSError | ProtocolError | ValueError):
        return _error(EndpointError.CONNECTION)
    return exc


def post(url: str, body: bytes, headers: dict[str, str]) -> Response:
    """POST `body` once on a connection of its own (the test send)."""
    with Sender(url) as sender:
        return sender.post(body, headers)
