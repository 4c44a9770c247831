"""The SSRF guard through DNS answers the test controls (the loopback `dns_server`, which the
guard asks when MKTOPS_DNS_RESOLVER is set), with private targets off as in production: a name
that resolves to a non-public address is refused when the endpoint is saved, and a name whose
answer changed to loopback after the save (DNS rebinding) is refused at connect time, before any
connection is made."""

import pytest
from django.core.exceptions import ValidationError

from mktops import net
from mktops.jobs import JobStatus
from tests.fixtures.listener import Listener
from tests.webhooks.conftest import messages_of, run, typed_event
from webhooks import http
from webhooks.models import Attempt, Endpoint, Outcome
from webhooks.services import delivery
from webhooks.services import endpoints as svc

pytestmark = pytest.mark.django_db

PUBLIC = "93.184.215.14"  # a public address; nothing in these tests connects to it


@pytest.fixture
def guarded(dns_server, settings):
    """Private targets off; host names resolve through the test's DNS server."""
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    settings.MKTOPS_DNS_RESOLVER = dns_server.address
    return dns_server


def _create(tenant, user, url):
    return svc.endpoint_create(tenant=tenant, name="CRM", url=url, event_types=["receipt.receipt_validated"], by=user)


@pytest.mark.parametrize("records", [
    [("A", "127.0.0.1")],
    [("AAAA", "::1")],
    [("A", "169.254.169.254")],  # the cloud metadata service
    [("A", "10.0.0.5")],
    [("A", "100.64.0.1")],  # carrier-grade NAT
    [("AAAA", "::ffff:7f00:1")],  # IPv4-mapped loopback (::ffff:127.0.0.1)
    [("A", PUBLIC), ("A", "127.0.0.1")],  # one public answer does not make the name public
    [("A", PUBLIC), ("AAAA", "fe80::1")],
])
def test_a_name_that_resolves_to_a_non_public_address_is_refused_at_save(guarded, zones_on, operator_a, records):
    for rtype, value in records:
        guarded.add("hooks.evil.example", rtype, value)
    with pytest.raises(ValidationError) as refused:
        _create(zones_on, operator_a, "https://hooks.evil.example/hook")
    assert refused.value.message_dict == {"url": [svc.URL_BLOCKED]}
    assert ("hooks.evil.example", "A") in guarded.queries  # decided on the answer we gave
    assert not Endpoint.objects.exists()


def test_a_name_without_an_answer_is_refused_at_save(guarded, zones_on, operator_a):
    with pytest.raises(ValidationError) as refused:
        _create(zones_on, operator_a, "https://nothing.example/hook")
    assert refused.value.message_dict == {"url": [svc.URL_UNRESOLVED]}
    guarded.add("broken.example", "A", rcode="SERVFAIL")
    with pytest.raises(ValidationError) as refused:
        _create(zones_on, operator_a, "https://broken.example/hook")
    assert refused.value.message_dict == {"url": [svc.URL_UNRESOLVED]}


def test_a_public_answer_is_saved_and_an_address_literal_is_never_asked_of_dns(guarded, zones_on, operator_a):
    guarded.add("hooks.example.com", "A", PUBLIC)
    assert _create(zones_on, operator_a, "https://hooks.example.com/hook").url == "https://hooks.example.com/hook"
    with pytest.raises(net.BlockedAddress):
        net.resolve_public("2130706433", 443)  # 127.0.0.1 spelled as a number: read as the C library reads it
    assert not [name for name, _ in guarded.queries if name == "2130706433"]


def test_a_name_rebound_to_loopback_after_the_save_is_refused_at_connect(guarded, zones_on, operator_a, ingest):
    with Listener() as internal:  # the service the rebinding aims at
        guarded.add("hooks.rebind.example", "A", PUBLIC)
        endpoint = _create(zones_on, operator_a, f"https://hooks.rebind.example:{internal.port}/hook")
        guarded.clear()
        guarded.add("hooks.rebind.example", "A", "127.0.0.1")
        ingest(typed_event(1))
        run(endpoint)
        [attempt] = Attempt.objects.all()
        assert attempt.outcome == Outcome.BLOCKED and attempt.error == http.MESSAGES[http.EndpointError.BLOCKED]
        assert messages_of(endpoint)[0].status == JobStatus.RETRYING  # kept, retried on the schedule
        # the test send goes through the same guard
        assert delivery.endpoint_send_test(endpoint=endpoint, event_type="receipt.receipt_validated",
                                           by=operator_a).outcome == Outcome.BLOCKED
        assert internal.connections() == 0


def test_a_name_that_stopped_resolving_after_the_save_is_recorded_as_dns(guarded, zones_on, operator_a, ingest):
    guarded.add("hooks.gone.example", "A", PUBLIC)
    endpoint = _create(zones_on, operator_a, "https://hooks.gone.example/hook")
    guarded.clear()  # the record was removed: NXDOMAIN now
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert attempt.outcome == Outcome.DNS and attempt.error == http.MESSAGES[http.EndpointError.DNS]
