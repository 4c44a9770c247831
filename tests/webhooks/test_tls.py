"""Deliveries over TLS to an https receiver on loopback whose certificate the test makes
(cryptography): delivered and verified when its CA is trusted (MKTOPS_WEBHOOK_CA_BUNDLE); an
untrusted certificate, or one for another host name, is recorded as the TLS error class and
nothing reaches the receiver."""

import datetime
import ipaddress
import json
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from mktops.jobs import JobStatus
from tests.fixtures.servers import free_port
from tests.webhooks.conftest import messages_of, run, typed_event, verified
from webhooks import http
from webhooks.models import Attempt, Outcome
from webhooks.services import delivery

pytestmark = pytest.mark.django_db


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _cert(subject: str, issuer_name: x509.Name, issuer_key, public_key, *, ca: bool, san=None):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(issuer_name)
               .public_key(public_key).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture
def certificates(tmp_path):
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it, as PEM files; `other`
    makes one signed by the same CA for another host name."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _cert("mktops test CA", _name("mktops test CA"), ca_key, ca_key.public_key(), ca=True)
    (tmp_path / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))

    def server(name: str, san) -> tuple[str, str]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _cert(name, ca.subject, ca_key, key.public_key(), ca=False, san=san)
        (tmp_path / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (tmp_path / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                                 serialization.PrivateFormat.PKCS8,
                                                                 serialization.NoEncryption()))
        return str(tmp_path / f"{name}.pem"), str(tmp_path / f"{name}.key")

    loopback = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
    return {"ca": str(tmp_path / "ca.pem"), "server": server("receiver", loopback),
            "other": server("elsewhere", [x509.DNSName("elsewhere.example")])}


class TlsReceiver:
    """An https server on loopback that records what it receives (headers lower-cased, body)."""

    def __init__(self, cert: str, key: str):
        self.port = free_port()
        self.requests: list[dict] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}/hook"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def tls_receiver(certificates):
    receiver = TlsReceiver(*certificates["server"])
    yield receiver
    receiver.stop()


class _Request:  # what conftest.verified reads
    def __init__(self, recorded):
        self.body, self.headers = recorded["body"], recorded["headers"]


def test_a_delivery_over_tls_succeeds_when_the_ca_is_trusted(new_endpoint, ingest, tls_receiver, certificates,
                                                             settings, operator_a):
    settings.MKTOPS_WEBHOOK_CA_BUNDLE = certificates["ca"]
    endpoint = new_endpoint(url=tls_receiver.url)
    ingest(typed_event(1), typed_event(2))
    assert run(endpoint) == 2
    assert [json.loads(r["body"])["data"]["event_uuid"] for r in tls_receiver.requests] == ["uuid-1", "uuid-2"]
    for recorded in tls_receiver.requests:
        verified(_Request(recorded), endpoint.secret)
    assert {a.outcome for a in Attempt.objects.all()} == {Outcome.SUCCESS}
    test = delivery.endpoint_send_test(endpoint=endpoint, event_type="prize.points_added", by=operator_a)
    assert test.outcome == Outcome.SUCCESS and test.http_status == 200


def test_an_untrusted_certificate_is_recorded_as_tls(new_endpoint, ingest, tls_receiver, settings):
    settings.MKTOPS_WEBHOOK_CA_BUNDLE = ""  # only the system's CAs, which never signed the test's
    endpoint = new_endpoint(url=tls_receiver.url)
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert attempt.outcome == Outcome.TLS and attempt.error == http.MESSAGES[http.EndpointError.TLS]
    assert attempt.http_status is None and not tls_receiver.requests
    assert messages_of(endpoint)[0].status == JobStatus.RETRYING


def test_a_trusted_certificate_for_another_host_name_is_recorded_as_tls(new_endpoint, ingest, certificates,
                                                                       settings):
    settings.MKTOPS_WEBHOOK_CA_BUNDLE = certificates["ca"]
    receiver = TlsReceiver(*certificates["other"])
    try:
        endpoint = new_endpoint(url=receiver.url)
        ingest(typed_event(1))
        run(endpoint)
        assert Attempt.objects.get().outcome == Outcome.TLS and not receiver.requests
    finally:
        receiver.stop()
