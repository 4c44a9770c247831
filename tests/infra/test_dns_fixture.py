"""The loopback DNS server answers what the test set, over UDP and TCP, and NXDOMAIN otherwise."""

import dns.resolver
import pytest


def _resolver(dns_server, tcp=False):
    resolver = dns.resolver.Resolver(configure=False)
    host, port = dns_server.address.split(":")
    resolver.nameservers = [host]
    resolver.port = int(port)
    resolver.lifetime = 2
    return resolver


def test_answers_a_and_txt_over_udp_and_tcp(dns_server):
    dns_server.add("Mail.Example.com", "TXT", "v=spf1 -all")
    dns_server.add("evil.example", "A", "127.0.0.1")
    resolver = _resolver(dns_server)
    assert [r.to_text() for r in resolver.resolve("evil.example", "A")] == ["127.0.0.1"]
    txt = resolver.resolve("mail.example.com", "TXT", tcp=True)
    assert b"".join(txt[0].strings) == b"v=spf1 -all"
    assert ("mail.example.com", "TXT") in dns_server.queries


def test_long_txt_is_split_into_strings(dns_server):
    value = "v=DKIM1; k=rsa; p=" + "A" * 400
    dns_server.add("sel._domainkey.example.com", "TXT", value)
    answer = _resolver(dns_server).resolve("sel._domainkey.example.com", "TXT", tcp=True)
    assert b"".join(answer[0].strings).decode() == value


def test_unknown_name_is_nxdomain_and_servfail_is_scripted(dns_server):
    resolver = _resolver(dns_server)
    with pytest.raises(dns.resolver.NXDOMAIN):
        resolver.resolve("nothing.example", "A")
    dns_server.add("broken.example", "A", rcode="SERVFAIL")
    with pytest.raises(dns.resolver.NoNameservers):
        resolver.resolve("broken.example", "A")
