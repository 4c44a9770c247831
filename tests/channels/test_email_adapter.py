"""The Email adapter: SPF and DKIM from the loopback DNS server, the SMTP login and test send against aiosmtpd."""

import pytest
from django.core.exceptions import ValidationError

from channels.providers import PlatformRefused, PlatformUnavailable, adapter_for
from channels.providers import email as email_module
from mktops import net

DOMAIN = "acme.example"
SPF = "v=spf1 include:_spf.mailer.example ~all"
# good credentials for the shape checks, which connect to nothing
SHAPELY = {"domain": DOMAIN, "dkim_selector": "s1", "smtp_host": "127.0.0.1", "smtp_port": "587",
           "smtp_username": "mailer@acme.example", "smtp_password": "secret"}
DKIM = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1"


@pytest.fixture
def mail(smtp_server, dns_server, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    settings.MKTOPS_DNS_RESOLVER = dns_server.address
    settings.MKTOPS_CHANNEL_TIMEOUT_SECONDS = 1
    dns_server.add(DOMAIN, "TXT", SPF)
    dns_server.add(DOMAIN, "TXT", "google-site-verification=abc")
    dns_server.add(f"s1._domainkey.{DOMAIN}", "TXT", DKIM)
    return smtp_server


def test_bind_checks_spf_dkim_and_logs_in(mail, dns_server):
    account = adapter_for("email").fetch_account(mail.credentials())
    assert account.account_id == DOMAIN
    assert account.details["spf"] == SPF
    assert account.details["smtp_login"] == "accepted"
    assert mail.logins == [(mail.username, True)]
    assert (DOMAIN, "TXT") in dns_server.queries and (f"s1._domainkey.{DOMAIN}", "TXT") in dns_server.queries


def test_the_domain_is_bound_in_lowercase(mail):
    assert adapter_for("email").fetch_account(mail.credentials(domain="ACME.Example.")).account_id == DOMAIN


def test_a_wrong_password_is_an_invalid_credential(mail):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials(smtp_password="wrong"))
    assert refused.value.reason == PlatformRefused.INVALID_TOKEN
    assert refused.value.message == email_module.ERR_LOGIN
    assert mail.logins and not any(accepted for _, accepted in mail.logins)


def test_no_spf_record_is_not_found(mail, dns_server):
    dns_server.add("bare.example", "TXT", "hello")
    dns_server.add("s1._domainkey.bare.example", "TXT", DKIM)
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials(domain="bare.example"))
    assert refused.value.reason == PlatformRefused.NOT_FOUND
    assert refused.value.message == email_module.ERR_NO_SPF.format(domain="bare.example")
    assert mail.logins == []  # DNS first: no password is sent for a domain that is not ready


def test_a_domain_that_does_not_exist_has_no_spf(mail):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials(domain="nowhere.example"))
    assert refused.value.reason == PlatformRefused.NOT_FOUND


def test_two_spf_records_are_refused(mail, dns_server):
    dns_server.add(DOMAIN, "TXT", "v=spf1 -all")
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials())
    assert refused.value.message == email_module.ERR_TWO_SPF.format(domain=DOMAIN)


def test_a_missing_dkim_key_names_the_record(mail):
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials(selector="s2"))
    assert refused.value.reason == PlatformRefused.NOT_FOUND
    assert f"s2._domainkey.{DOMAIN}" in refused.value.message


def test_a_revoked_dkim_key_is_refused(mail, dns_server):
    dns_server.add(f"old._domainkey.{DOMAIN}", "TXT", "v=DKIM1; p=")
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials(selector="old"))
    assert refused.value.message == email_module.ERR_DKIM_REVOKED.format(name=f"old._domainkey.{DOMAIN}")


def test_a_failing_name_server_is_unavailable(mail, dns_server):
    dns_server.add("broken.example", "TXT", rcode="SERVFAIL")
    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("email").fetch_account(mail.credentials(domain="broken.example"))
    assert unavailable.value.reason == PlatformUnavailable.CONNECTION


def test_a_slow_name_server_is_unavailable(mail, dns_server):
    dns_server.add("slow.example", "TXT", SPF, delay=2.5)
    with pytest.raises(PlatformUnavailable):
        adapter_for("email").fetch_account(mail.credentials(domain="slow.example"))


def test_an_smtp_port_nobody_listens_on_is_unavailable(mail):
    from tests.fixtures.servers import free_port

    with pytest.raises(PlatformUnavailable) as unavailable:
        adapter_for("email").fetch_account(mail.credentials(smtp_port=str(free_port())))
    assert unavailable.value.reason == PlatformUnavailable.CONNECTION


def test_an_smtp_server_that_never_answers_is_a_timeout(mail):
    from tests.fixtures.listener import Listener

    with Listener() as silent, pytest.raises(PlatformUnavailable) as unavailable:  # accepts, says nothing
        adapter_for("email").fetch_account(mail.credentials(smtp_port=str(silent.port)))
    assert unavailable.value.reason == PlatformUnavailable.TIMEOUT


def test_a_private_smtp_host_is_refused_by_the_guard(mail, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(PlatformRefused) as refused:
        adapter_for("email").fetch_account(mail.credentials())
    assert refused.value.message == net.ERR_BLOCKED.format(host=repr("127.0.0.1"))
    assert mail.logins == []


def test_validate_refuses_a_private_smtp_host_beside_the_field(mail, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(ValidationError) as invalid:
        adapter_for("email").validate(mail.credentials())
    assert invalid.value.message_dict == {"smtp_host": [net.ERR_BLOCKED.format(host=repr("127.0.0.1"))]}


@pytest.mark.parametrize("field,value", [
    ("domain", "not a domain"), ("domain", "localhost"), ("domain", "-bad.example"), ("domain", "a" * 64 + ".com"),
    ("dkim_selector", "s1;drop"), ("smtp_port", "70000"), ("smtp_port", "587a"), ("smtp_host", "smtp host"),
    ("smtp_username", "a b"), ("smtp_password", "x" * 257),
])
def test_validate_shapes(settings, field, value):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    with pytest.raises(ValidationError) as invalid:
        adapter_for("email").validate({**SHAPELY, field: value})
    assert list(invalid.value.message_dict) == [field]


def test_validate_accepts_an_international_domain(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    adapter_for("email").validate({**SHAPELY, "domain": "bücher.example"})
    assert email_module.ascii_domain("bücher.example") == "xn--bcher-kva.example"


def test_test_send_delivers_through_the_login(mail):
    sent = adapter_for("email").send_test(mail.credentials(), to="bob@example.com", text="Hello Bob")
    (received,) = mail.messages
    assert received.rcpt_tos == ["bob@example.com"]
    assert received.mail_from == mail.username  # an address at the domain: the SMTP user
    assert received.message["Message-ID"] == sent.message_id
    assert received.message["Subject"] == email_module.TEST_SUBJECT
    assert received.message.get_payload().strip() == "Hello Bob"


def test_test_send_from_noreply_when_the_user_is_not_an_address_at_the_domain(mail):
    credentials = mail.credentials(smtp_username="mailer")
    assert email_module.from_address(credentials) == f"noreply@{DOMAIN}"


def test_test_send_to_a_bad_address_is_refused_before_connecting(mail):
    with pytest.raises(ValidationError):
        adapter_for("email").send_test(mail.credentials(), to="bob", text="x")
    assert mail.logins == []


def test_starttls_is_used_when_offered_and_the_certificate_checked(dns_server, settings, tmp_path):
    """A server offering STARTTLS with a certificate nobody trusts: the client upgrades (it does not fall
    back to sending the password in clear) and refuses the certificate."""
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    settings.MKTOPS_CHANNEL_TIMEOUT_SECONDS = 5
    server = _starttls_server(tmp_path)
    try:
        credentials = {"domain": DOMAIN, "dkim_selector": "s1", "smtp_host": "127.0.0.1",
                       "smtp_port": str(server.port), "smtp_username": "u@acme.example", "smtp_password": "p"}
        backend = email_module.backend_for(credentials)
        with pytest.raises(Exception) as failed:
            backend.open()
        error = email_module._smtp_error(failed.value)
        assert isinstance(error, PlatformRefused) and error.message == email_module.ERR_TLS
        assert server.logins == []
    finally:
        server.stop()


def _starttls_server(tmp_path):
    import datetime
    import ssl

    from aiosmtpd.controller import Controller
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    from tests.fixtures.servers import free_port

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "untrusted.example")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(1).not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256()))
    (tmp_path / "c.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "k.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    class Server:
        logins: list = []

        def __init__(self):
            self.port = free_port()

            class Handler:
                async def handle_DATA(self, smtp, session, envelope):
                    return "250 OK"

            def authenticate(*args):
                Server.logins.append(args)
                from aiosmtpd.smtp import AuthResult
                return AuthResult(success=True)

            self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, tls_context=context,
                                         require_starttls=True, authenticator=authenticate)
            self.controller.start()

        def stop(self):
            self.controller.stop()

    return Server()
