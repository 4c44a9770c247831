"""The outbound-address guard: every connection to a host or URL a tenant gave us goes through here.

A host a tenant types (an SFTP server, a webhook endpoint, a provider's base URL) would otherwise be
a way into the platform's own network: the metadata service, a database, an internal sshd. So:

- The host is resolved with `getaddrinfo`, as a connection would resolve it (or, when
  `settings.MKTOPS_DNS_RESOLVER` "host:port" is set, with A and AAAA queries to that DNS server
  through dnspython; address literals never go to DNS), and *every* address it
  resolves to must be public: `ip.is_global` and not multicast, and an IPv4 address carried inside
  an IPv6 one (IPv4-mapped `::ffff:a.b.c.d`, 6to4 `2002::/16`, NAT64 `64:ff9b::/96`, the deprecated
  IPv4-compatible `::a.b.c.d`) must be public too; Teredo is never global. Odd spellings
  (`2130706433`, `0x7f.1`, `127.1`, `017700000001`) are judged by what they resolve to, never parsed
  here, so no spelling the resolver accepts can slip past a parser that disagrees with it.
- A connection goes to the very address that was checked (`connect_tcp`, or `resolve_checked` for a
  client that opens its own socket): no second lookup, so a DNS answer that changes between the check
  and the connect (rebinding) cannot reach anything unchecked.
- Callers check when the setting is saved (`resolve_public`, `url_check`) and again at every connect.
- `settings.MKTOPS_ALLOW_PRIVATE_TARGETS` (tests, the demo) lets loopback and private addresses and
  plain `http://` through. It is read at each call.

HTTP clients (webhooks, channel providers) must:
- call `url_check(url)` and connect to one of its `addresses` (the Host header, TLS SNI and the
  certificate check keep the host name);
- never follow redirects: a 3xx is the endpoint's answer, a redirect would lead to an unchecked host;
- ignore proxies from the environment (`HTTPS_PROXY`, …): a proxy would resolve the host itself.

Refusals raise `AddressRefused` (an `OutsideError`): `BlockedAddress` (reason `address_refused`),
`UnresolvedHost` (`unresolvable`), `UrlRefused` (`bad_url`). Their sentences name the host as the
tenant typed it and never the addresses it resolved to: which internal address a name points at is
itself something an outsider should not learn from us.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

from mktops.errors import OutsideError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")
_SHOWN_HOST_CHARS = 100  # a pasted novel is not repeated back in full
DNS_LIFETIME_SECONDS = 5.0  # for one name's answer from MKTOPS_DNS_RESOLVER

ERR_BLOCKED = ("The host {host} resolves to an address that is not on the public internet (loopback, private, "
               "link-local or reserved), and mktops connects only to public addresses: give the public host name "
               "or address of your server.")
ERR_UNRESOLVED = "The host name {host} could not be resolved: check its spelling and that it has a public DNS record."
ERR_NO_HOST = "No host is given: give the host name or address of your server."
ERR_URL_SCHEME = "The URL must start with https:// (mktops sends only over TLS)."
ERR_URL_SCHEME_PLAIN = "The URL must start with https:// or http://."
ERR_URL_HOST = "The URL has no host name: write it as https://host.example.com/path."
ERR_URL_PORT = "The URL's port must be a number from 1 to 65535."
ERR_URL_USERINFO = ("The URL must not carry a user name or password (https://user:password@…): "
                    "they would travel in every request and land in logs.")


class AddressRefused(OutsideError):
    """A tenant-given host or URL that mktops does not connect to."""

    BLOCKED = "address_refused"
    UNRESOLVABLE = "unresolvable"
    BAD_URL = "bad_url"


class BlockedAddress(AddressRefused):
    def __init__(self, host: str):
        super().__init__(self.BLOCKED, ERR_BLOCKED.format(host=_shown(host)))


class UnresolvedHost(AddressRefused):
    def __init__(self, host: str):
        message = ERR_UNRESOLVED.format(host=_shown(host)) if host else ERR_NO_HOST
        super().__init__(self.UNRESOLVABLE, message)


class UrlRefused(AddressRefused):
    def __init__(self, message: str):
        super().__init__(self.BAD_URL, message)


def _shown(host: str) -> str:
    return repr(host if len(host) <= _SHOWN_HOST_CHARS else host[:_SHOWN_HOST_CHARS] + "…")


def private_targets_allowed() -> bool:
    return bool(settings.MKTOPS_ALLOW_PRIVATE_TARGETS)


# --- which addresses are public ------------------------------------------------------------
def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one leads to, for the forms that carry one."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip in _NAT64 or ip in _IPV4_COMPATIBLE:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast, including whatever IPv4 address it carries.

    `is_global`, not `not is_private`: shared (100.64/10) and reserved ranges are neither private
    nor public; Python counts multicast as global, we do not."""
    if ip.version == 6:
        inner = _embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
    return ip.is_global and not ip.is_multicast


# --- resolving ---------------------------------------------------------------------------------
def _bare(host: str) -> str:
    """`[::1]` as a URL writes it is the host `::1`."""
    host = host.strip()
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def _getaddrinfo(host: str, port: int, flags: int = 0) -> list[str]:
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP, flags=flags)
    return [sockaddr[0] for family, _, _, _, sockaddr in answers if family in (socket.AF_INET, socket.AF_INET6)]


def _dns_answers(host: str) -> list[str]:
    """A and AAAA answers from the resolver at `settings.MKTOPS_DNS_RESOLVER` (dnspython)."""
    import dns.exception
    import dns.resolver

    server, _, port = settings.MKTOPS_DNS_RESOLVER.rpartition(":")
    resolver = dns.resolver.Resolver(configure=False)
    resolver.nameservers = [_bare(server)]
    resolver.port = int(port)
    resolver.lifetime = DNS_LIFETIME_SECONDS
    found: list[str] = []
    for rtype in ("A", "AAAA"):
        try:
            found += [record.to_text() for record in resolver.resolve(host, rtype)]
        except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
            continue
        except (dns.exception.DNSException, UnicodeError, ValueError):  # SERVFAIL, a timeout, a bad label
            raise OSError("no answer") from None
    return found


def _lookup(host: str, port: int) -> list[str]:
    """The addresses a connection would use: the system's resolver (`getaddrinfo`), or, when
    `MKTOPS_DNS_RESOLVER` is set, that DNS server. An address literal in any spelling the C library
    accepts (`2130706433`, `0x7f.1`) is never sent to DNS: it is read as the C library reads it."""
    if not settings.MKTOPS_DNS_RESOLVER:
        return _getaddrinfo(host, port)
    try:
        return _getaddrinfo(host, port, socket.AI_NUMERICHOST)
    except socket.gaierror:
        return _dns_answers(host)


def _resolve(host: str, port: int) -> list[IPAddress]:
    try:
        answers = _lookup(host, port)
    except (OSError, UnicodeError, ValueError):  # gaierror, a label idna refuses, a NUL byte
        raise UnresolvedHost(host) from None
    found: list[IPAddress] = []
    for address in answers:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise BlockedAddress(host) from None
        if ip not in found:
            found.append(ip)
    if not found:
        raise UnresolvedHost(host)
    return found


def resolve_public(host: str, port: int) -> list[str]:
    """The addresses `host` resolves to, each checked, in the resolver's order.

    Refused (`BlockedAddress`) when any of them is not public, unless private targets are allowed:
    a name that resolves to a public and a private address is not a public server."""
    host = _bare(host)
    if not host:
        raise UnresolvedHost("")
    addresses = _resolve(host, port)
    if not private_targets_allowed() and not all(is_public(ip) for ip in addresses):
        raise BlockedAddress(host)
    return [str(ip) for ip in addresses]


def resolve_checked(host: str, port: int) -> str:
    """One checked address to connect to, for a client that opens its own socket."""
    return resolve_public(host, port)[0]


def connect_tcp(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to `host`, to one of the addresses checked for it (no second lookup).

    Tries each checked address in turn with `timeout` each, like `socket.create_connection`;
    raises `AddressRefused` before any connection is made, or the last `OSError` of the attempts
    (the caller says in its own words what it means)."""
    last: OSError | None = None
    for address in resolve_public(host, port):
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.settimeout(timeout)
            sock.connect((address, port))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    assert last is not None  # resolve_public returns at least one address
    raise last


# --- URLs --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CheckedUrl:
    scheme: str
    host: str  # for the Host header and TLS
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[str, ...]  # connect to one of these, never to `host` again


def url_check(url: str) -> CheckedUrl:
    """Check a tenant-given http(s) URL: scheme, host, port, no credentials; resolved as above."""
    allowed_schemes = ("https", "http") if private_targets_allowed() else ("https",)
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:  # a port out of range or not a number, a malformed [IPv6] host
        raise UrlRefused(ERR_URL_PORT) from None
    if parts.scheme.lower() not in allowed_schemes:
        raise UrlRefused(ERR_URL_SCHEME if len(allowed_schemes) == 1 else ERR_URL_SCHEME_PLAIN)
    if parts.username is not None or parts.password is not None:
        raise UrlRefused(ERR_URL_USERINFO)
    if not parts.hostname:
        raise UrlRefused(ERR_URL_HOST)
    scheme = parts.scheme.lower()
    if port == 0:
        raise UrlRefused(ERR_URL_PORT)
    port = port or (443 if scheme == "https" else 80)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    addresses = tuple(resolve_public(parts.hostname, port))
    return CheckedUrl(scheme=scheme, host=parts.hostname, port=port, target=target, addresses=addresses)
