"""Email sending domains: DNS (SPF, DKIM) and the tenant's SMTP account. The only module that talks to either.

- SPF: exactly one TXT record starting `v=spf1` on the domain (RFC 7208 allows one). DKIM: a TXT record with
  a non-empty `p=` key at `<selector>._domainkey.<domain>`. Both asked with dnspython of
  `settings.MKTOPS_DNS_RESOLVER` ("address:port"; the system's resolver when unset).
- The SMTP account: a real login with Django's SMTP mail backend. The host is the tenant's, so the
  connection goes through `mktops.net` (resolved, refused unless public, connected to the very address
  checked): `GuardedEmailBackend` is Django's backend with only the socket swapped. Port 465 is TLS from
  the first byte; any other port upgrades with STARTTLS, and a server that does not offer it is refused
  (the password would travel in clear) unless `MKTOPS_ALLOW_PRIVATE_TARGETS` is on (tests, the demo).
- A test message is sent through the same backend, from `from_address(credentials)`, with a Message-ID
  of ours: that id is the "message id" recorded.

The bound identity (`account_id`) is the domain, lowercased and in its ASCII (IDNA) form.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from email.utils import make_msgid

import dns.exception
import dns.resolver
from django.conf import settings
from django.core.mail import EmailMessage
from django.core.mail.backends.smtp import EmailBackend
from django.core.mail.utils import DNS_NAME

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
from mktops import net

PLATFORM = "The SMTP server"
SSL_PORT = 465
TEST_SUBJECT = "Test message from mktops"

LABEL = r"(?!-)[a-z0-9-]{1,63}(?<!-)"
DOMAIN = rf"(?:{LABEL}\.)+(?:[a-z]{{2,63}}|xn--[a-z0-9-]{{1,59}})"
RULE_DOMAIN = "must be a domain name such as mail.example.com (letters, digits and hyphens, dot-separated)"
RULE_SELECTOR = "must be a DKIM selector such as s1 or mail.2024 (letters, digits, hyphens, dot-separated)"
RULE_HOST = "must be a host name such as smtp.example.com or an IP address"
RULE_PORT = "must be a port number from 1 to 65535"

ERR_NO_SPF = ("No SPF record is published for {domain}: add a TXT record starting v=spf1 that includes your "
              "SMTP provider, then bind again.")
ERR_TWO_SPF = ("{domain} publishes more than one SPF record (TXT starting v=spf1), and receivers then treat SPF "
               "as broken: merge them into one record.")
ERR_NO_DKIM = ("No DKIM key is published at {name}: add the TXT record your SMTP provider gives for the selector "
               "{selector}, or correct the selector.")
ERR_DKIM_REVOKED = ("The DKIM record at {name} has an empty key (p=), which means the key is revoked: publish "
                    "the current key.")
ERR_DNS_DOWN = ("The DNS lookup of {name} failed (the resolver did not answer or the domain's name servers failed). "
                "mktops will ask again later.")
ERR_LOGIN = "The SMTP server refused the user name and password. Check them with your SMTP provider and bind again."
ERR_NO_AUTH = ("The SMTP server does not offer a login on this port. Use the submission port your provider "
               "gives (587 or 465).")
ERR_NO_STARTTLS = ("The SMTP server does not offer STARTTLS on this port, and mktops does not send a password "
                   "in clear. Use port 465, or a port where the server offers STARTTLS.")
ERR_TLS = ("The TLS handshake with the SMTP server failed (its certificate is not valid for this host name, "
           "has expired, or is not trusted). Check the host name, or ask your provider.")
ERR_SMTP_REFUSED = "The SMTP server refused the request. Check the account with your SMTP provider."
ERR_SMTP_LATER = "The SMTP server is busy or had a temporary problem. mktops will ask again later."
ERR_RECIPIENT = "The SMTP server refused the recipient address."
ERR_SENDER = "The SMTP server refused the sender address {sender}: it may send only from addresses it allows."
ERR_TIMEOUT = "The SMTP server did not answer within {seconds} seconds. mktops will ask again later."
ERR_CONNECTION = ("mktops could not connect to the SMTP server (nothing answered on that host and port). Check "
                  "the host and port; mktops will ask again later.")


def ascii_domain(value: str) -> str:
    """The domain in its lowercase ASCII (IDNA) form, or "" when it cannot be one."""
    value = value.strip().rstrip(".").lower()
    try:
        return value.encode("idna").decode("ascii")
    except UnicodeError:
        return ""


def from_address(credentials: dict) -> str:
    """The test message's sender: the SMTP user when it is an address at the domain, else noreply@."""
    domain, username = ascii_domain(clean(credentials, "domain")), clean(credentials, "smtp_username")
    return username if username.lower().endswith("@" + domain) else f"noreply@{domain}"


# --- DNS ---------------------------------------------------------------------------------------
def _resolver() -> dns.resolver.Resolver:
    address = settings.MKTOPS_DNS_RESOLVER
    resolver = dns.resolver.Resolver(configure=not address)
    if address:
        host, _, port = address.rpartition(":")
        resolver.nameservers = [host.strip("[]")]
        resolver.port = int(port)
    resolver.timeout = resolver.lifetime = _http.timeout_seconds()
    return resolver


def txt_records(name: str) -> list[str]:
    """The TXT strings at `name` ([] when there are none); PlatformUnavailable when DNS does not answer."""
    try:
        answer = _resolver().resolve(name, "TXT", raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.DNSException, OSError):  # timeout, SERVFAIL (NoNameservers), unreachable
        raise PlatformUnavailable(PlatformUnavailable.CONNECTION, ERR_DNS_DOWN.format(name=name)) from None
    return [b"".join(rdata.strings).decode("utf-8", "replace") for rdata in answer]


def spf_record(domain: str) -> str:
    found = [t for t in txt_records(domain) if re.match(r"v=spf1(\s|$)", t, re.IGNORECASE)]
    if not found:
        raise PlatformRefused(PlatformRefused.NOT_FOUND, ERR_NO_SPF.format(domain=domain))
    if len(found) > 1:
        raise PlatformRefused(PlatformRefused.REFUSED, ERR_TWO_SPF.format(domain=domain))
    return found[0]


def dkim_key(domain: str, selector: str) -> str:
    name = f"{selector}._domainkey.{domain}"
    for record in txt_records(name):
        tags = dict(tag.strip().partition("=")[::2] for tag in record.split(";") if "=" in tag)
        tags = {k.strip().lower(): v.strip() for k, v in tags.items()}
        if "p" in tags:
            if not tags["p"]:
                raise PlatformRefused(PlatformRefused.REFUSED, ERR_DKIM_REVOKED.format(name=name))
            return tags["p"]
    raise PlatformRefused(PlatformRefused.NOT_FOUND, ERR_NO_DKIM.format(name=name, selector=selector))


# --- SMTP through the guard -------------------------------------------------------------------
class _GuardedSMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        return net.connect_tcp(host, port, timeout)


class _GuardedSMTPSSL(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        return self.context.wrap_socket(net.connect_tcp(host, port, timeout), server_hostname=self._host)


class GuardedEmailBackend(EmailBackend):
    """Django's SMTP backend, connecting only to the address `mktops.net` checked for the tenant's host."""

    @property
    def connection_class(self):
        return _GuardedSMTPSSL if self.use_ssl else _GuardedSMTP

    def open(self):
        if self.connection:
            return False
        params = {"local_hostname": DNS_NAME.get_fqdn(), "timeout": self.timeout}
        if self.use_ssl:
            params["context"] = self.ssl_context
        connection = self.connection_class(self.host, self.port, **params)
        try:
            if not self.use_ssl:
                connection.ehlo()
                if connection.has_extn("starttls"):
                    connection.starttls(context=self.ssl_context)
                    connection.ehlo()
                elif not net.private_targets_allowed():
                    raise PlatformRefused(PlatformRefused.REFUSED, ERR_NO_STARTTLS)
            if self.username and self.password:
                connection.login(self.username, self.password)
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return True


def backend_for(credentials: dict) -> GuardedEmailBackend:
    port = int(clean(credentials, "smtp_port"))
    return GuardedEmailBackend(
        host=clean(credentials, "smtp_host"), port=port, username=clean(credentials, "smtp_username"),
        password=str(credentials.get("smtp_password", "")), use_ssl=port == SSL_PORT, use_tls=False,
        timeout=_http.timeout_seconds(), fail_silently=False)


def _smtp_error(exc: BaseException, *, sender: str = "") -> Exception:
    """Our sentence for what went wrong with SMTP (never the server's banner or reply text)."""
    if isinstance(exc, PlatformRefused | PlatformUnavailable):
        return exc
    if isinstance(exc, net.AddressRefused):
        return PlatformRefused(PlatformRefused.REFUSED, exc.message)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return PlatformRefused(PlatformRefused.INVALID_TOKEN, ERR_LOGIN)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PlatformRefused(PlatformRefused.REFUSED, ERR_NO_AUTH)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return PlatformRefused(PlatformRefused.REFUSED, ERR_RECIPIENT)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return PlatformRefused(PlatformRefused.REFUSED, ERR_SENDER.format(sender=sender))
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPConnectError):
        if exc.smtp_code >= 500:
            return PlatformRefused(PlatformRefused.REFUSED, ERR_SMTP_REFUSED)
        return PlatformUnavailable(PlatformUnavailable.SERVER_ERROR, ERR_SMTP_LATER)
    if isinstance(exc, ssl.SSLError | ssl.CertificateError):
        return PlatformRefused(PlatformRefused.REFUSED, ERR_TLS)
    # smtplib turns a timeout while reading a reply into SMTPServerDisconnected; the cause says which
    if isinstance(exc, TimeoutError) or isinstance(exc.__context__, TimeoutError):
        return PlatformUnavailable(PlatformUnavailable.TIMEOUT, ERR_TIMEOUT.format(seconds=_http.timeout_seconds()))
    return PlatformUnavailable(PlatformUnavailable.CONNECTION, ERR_CONNECTION)


SMTP_FAILURES = (OSError, smtplib.SMTPException, net.AddressRefused, PlatformRefused)


class EmailAdapter(Adapter):
    channel_type = "email"
    platform = PLATFORM
    identity_fields = [
        FieldSpec("domain", "Sending domain", max_length=253, pattern=r"\S+", rule=RULE_DOMAIN,
                  help="The domain your messages come from, with SPF and DKIM published."),
        FieldSpec("dkim_selector", "DKIM selector", max_length=63,
                  pattern=r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                          r"[A-Za-z0-9])?)*", rule=RULE_SELECTOR,
                  help="The selector of your DKIM key: the part before ._domainkey."),
        FieldSpec("smtp_host", "SMTP host", max_length=253, pattern=r"[A-Za-z0-9.:\[\]-]+", rule=RULE_HOST,
                  help="Your SMTP provider's submission host, e.g. smtp.example.com."),
        FieldSpec("smtp_port", "SMTP port", max_length=5, pattern=r"[0-9]{1,5}", rule=RULE_PORT,
                  help="465 (TLS) or 587 (STARTTLS)."),
        FieldSpec("smtp_username", "SMTP user name", max_length=254, pattern=r"\S+",
                  rule="must not contain spaces"),
        FieldSpec("smtp_password", "SMTP password", secret=True, max_length=256),
    ]
    recipient_label = "Email address"
    recipient_help = "The address the test message goes to."
    recipient_pattern = r"[^@\s]{1,64}@[^@\s]+\.[^@\s]{1,63}"
    recipient_rule = "must be an email address such as name@example.com"
    sent_event_name = "Email Sent"
    sent_event_code = "MOE_EMAIL_SENT"
    recipient_attribute = "email_id"

    def validate_more(self, credentials: dict) -> dict[str, str]:
        errors = {}
        domain = ascii_domain(clean(credentials, "domain"))
        if not domain or len(domain) > 253 or not re.fullmatch(DOMAIN, domain):
            errors["domain"] = f"Sending domain {RULE_DOMAIN}."
        port = int(clean(credentials, "smtp_port"))
        if not 1 <= port <= 65535:
            errors["smtp_port"] = f"SMTP port {RULE_PORT}."
            return errors
        try:  # checked when given, and again at every connection
            net.resolve_public(clean(credentials, "smtp_host"), port)
        except net.AddressRefused as exc:
            errors["smtp_host"] = exc.message
        return errors

    def fetch_account(self, credentials: dict) -> Account:
        domain, selector = ascii_domain(clean(credentials, "domain")), clean(credentials, "dkim_selector").lower()
        spf = spf_record(domain)
        dkim_key(domain, selector)
        backend = backend_for(credentials)
        try:
            backend.open()
        except SMTP_FAILURES as exc:
            raise _smtp_error(exc) from None
        finally:
            backend.close()
        return Account(account_id=domain, details={
            "spf": spf[:255], "dkim_selector": selector, "smtp_host": clean(credentials, "smtp_host"),
            "smtp_port": clean(credentials, "smtp_port"), "smtp_login": "accepted"})

    def send_test(self, credentials: dict, *, to: str, text: str) -> SentMessage:
        recipient = self.validate_recipient(to)
        domain, sender = ascii_domain(clean(credentials, "domain")), from_address(credentials)
        message_id = make_msgid(domain=domain)
        backend = backend_for(credentials)
        message = EmailMessage(subject=TEST_SUBJECT, body=text, from_email=sender, to=[recipient],
                               headers={"Message-ID": message_id}, connection=backend)
        try:
            message.send(fail_silently=False)
        except SMTP_FAILURES as exc:
            raise _smtp_error(exc, sender=sender) from None
        finally:
            backend.close()
        return SentMessage(message_id=message_id)

    def sent_message_content(self, credentials: dict, *, to: str, text: str, message_id: str) -> dict | None:
        return {"from": from_address(credentials), "to": to, "subject": TEST_SUBJECT, "text": text,
                "headers": {"Message-ID": message_id}}
