"""The outbound-address guard (mktops.net) and the SFTP module's use of it: every spelling of an
internal address is refused by what it resolves to, nothing connects before the check, the
connection goes to the address checked, and nothing an internal service says reaches our errors."""

import ipaddress
import socket

import pytest

from mktops import net
from mktops.storage import sftp
from tests.fixtures.listener import Listener

# every one reaches the loopback listener when private targets are allowed
LOOPBACK_SPELLINGS = ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "127.1", "017700000001", "0.0.0.0",  # noqa: S104 - a spelling to refuse
                      "::ffff:127.0.0.1", "[::ffff:127.0.0.1]"]
INTERNAL_SPELLINGS = [*LOOPBACK_SPELLINGS, "169.254.169.254", "10.0.0.1", "192.168.1.10", "172.16.0.1",
                      "100.64.0.1", "[::1]", "::1", "fe80::1", "fc00::1", "224.0.0.1"]


@pytest.fixture
def guarded(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    return settings


@pytest.fixture
def listener():
    with Listener(b"SSH-2.0-not-really\r\n") as server:
        yield server


# --- which addresses are public ---------------------------------------------------------------
@pytest.mark.parametrize(("address", "public"), [
    ("8.8.8.8", True), ("2606:4700::1111", True), ("::ffff:8.8.8.8", True), ("64:ff9b::808:808", True),
    ("127.0.0.1", False), ("0.0.0.0", False), ("10.1.2.3", False), ("169.254.169.254", False),  # noqa: S104
    ("100.64.0.1", False), ("192.0.2.1", False), ("255.255.255.255", False),
    ("224.0.0.1", False), ("239.255.255.250", False), ("ff02::1", False), ("ff0e::1", False),  # multicast
    ("::1", False), ("fe80::1", False), ("fc00::1", False),
    ("::ffff:127.0.0.1", False), ("::ffff:169.254.169.254", False),  # IPv4-mapped
    ("2002:7f00:1::1", False), ("2002:a00:1::1", False),  # 6to4 of 127.0.0.1, 10.0.0.1
    ("64:ff9b::7f00:1", False),  # NAT64 of 127.0.0.1
    ("::7f00:1", False),  # IPv4-compatible 127.0.0.1
    ("2001:0:4136:e378:8000:63bf:80ff:fffe", False),  # Teredo
])
def test_is_public(address, public):
    assert net.is_public(ipaddress.ip_address(address)) is public


# --- resolving -------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_every_spelling_of_an_internal_address_is_refused(guarded, host):
    with pytest.raises(net.BlockedAddress) as err:
        net.resolve_public(host, 22)
    assert err.value.reason == net.AddressRefused.BLOCKED == "address_refused"
    assert isinstance(err.value, net.OutsideError)


def test_the_refusal_names_the_host_typed_and_not_what_it_resolved_to(guarded):
    with pytest.raises(net.BlockedAddress) as err:
        net.resolve_public("localhost", 22)
    assert "'localhost'" in err.value.message and "public" in err.value.message
    assert "127.0.0.1" not in err.value.message


def test_a_name_that_does_not_resolve(guarded):
    with pytest.raises(net.UnresolvedHost) as err:
        net.resolve_public("no-such-host.invalid", 22)
    assert err.value.reason == "unresolvable" and "could not be resolved" in err.value.message
    with pytest.raises(net.UnresolvedHost):
        net.resolve_public("  ", 22)


def test_public_addresses_pass(guarded):
    assert net.resolve_public("8.8.8.8", 22) == ["8.8.8.8"]
    assert net.resolve_public("[2606:4700::1111]", 443) == ["2606:4700::1111"]


def test_a_name_with_one_private_address_among_public_ones_is_refused(guarded, monkeypatch):
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("8.8.8.8", 22)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 22))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
    with pytest.raises(net.BlockedAddress):
        net.resolve_public("mixed.example.com", 22)


def test_private_targets_allowed_by_the_setting(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    assert net.resolve_public("localhost", 22)[0] == "127.0.0.1"
    assert net.resolve_public("2130706433", 22) == ["127.0.0.1"]


# --- connecting ---------------------------------------------------------------------------------
@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_connect_tcp_refuses_before_connecting(guarded, listener, host):
    with pytest.raises(net.BlockedAddress):
        net.connect_tcp(host, listener.port, timeout=5)
    assert listener.connections() == 0
    # the same spelling reaches the listener once private targets are allowed: the refusal above was the guard's
    guarded.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    net.connect_tcp(host, listener.port, timeout=5).close()
    assert listener.connections() == 1


def test_connect_tcp_connects_to_the_address_checked_without_a_second_lookup(settings, monkeypatch):
    """The first answer is checked and connected to; a changed second answer (DNS rebinding) is never asked for."""
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    real_getaddrinfo = socket.getaddrinfo
    with Listener() as first, Listener() as second:
        answers = iter([first.port, second.port])
        calls = []

        def rebinding(host, port, *args, **kwargs):
            calls.append(host)
            return real_getaddrinfo("127.0.0.1", next(answers), *args, **kwargs)

        monkeypatch.setattr(socket, "getaddrinfo", rebinding)
        sock = net.connect_tcp("rebinding.example.com", first.port, timeout=5)
        monkeypatch.setattr(socket, "getaddrinfo", real_getaddrinfo)
        assert sock.getpeername() == ("127.0.0.1", first.port)
        sock.close()
        assert calls == ["rebinding.example.com"]
        assert (first.connections(), second.connections()) == (1, 0)


def test_connect_tcp_tries_each_checked_address(settings, monkeypatch):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    with Listener() as server:
        with socket.socket() as closed:  # a port where nothing listens
            closed.bind(("127.0.0.2", 0))
            dead = closed.getsockname()[1]
        answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", dead)),
                   (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", server.port))]
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args, **kwargs: answers)
        # the port is the caller's: both addresses are tried on it
        with pytest.raises(ConnectionRefusedError):
            net.connect_tcp("two.example.com", dead, timeout=5)
        net.connect_tcp("two.example.com", server.port, timeout=5).close()
        assert server.connections() == 1


# --- URLs -------------------------------------------------------------------------------------------
def test_url_check_when_guarded(guarded):
    checked = net.url_check("https://8.8.8.8/hooks?x=1")
    assert (checked.scheme, checked.host, checked.port, checked.target, checked.addresses) == (
        "https", "8.8.8.8", 443, "/hooks?x=1", ("8.8.8.8",))
    for url, message in [("http://8.8.8.8/", net.ERR_URL_SCHEME), ("ftp://8.8.8.8/", net.ERR_URL_SCHEME),
                         ("https:///path", net.ERR_URL_HOST), ("https://8.8.8.8:99999/", net.ERR_URL_PORT),
                         ("https://8.8.8.8:0/", net.ERR_URL_PORT),
                         ("https://user:pw@8.8.8.8/", net.ERR_URL_USERINFO)]:
        with pytest.raises(net.UrlRefused) as err:
            net.url_check(url)
        assert err.value.message == message and err.value.reason == "bad_url", url
    for url in ("https://127.0.0.1/", "https://[::1]:8443/", "https://2130706433/", "https://169.254.169.254/"):
        with pytest.raises(net.BlockedAddress):
            net.url_check(url)


def test_url_check_allows_plain_http_and_loopback_with_the_setting(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    checked = net.url_check("http://127.0.0.1:8080/in")
    assert (checked.port, checked.addresses) == (8080, ("127.0.0.1",))
    with pytest.raises(net.UrlRefused):
        net.url_check("ftp://127.0.0.1/")


# --- the SFTP module goes through the guard, at every connect --------------------------------------------
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "2130706433", "0x7f.1", "::ffff:127.0.0.1"])
def test_sftp_refuses_an_internal_host_without_connecting(guarded, listener, host):
    target = sftp.SftpTarget(host=host, port=listener.port, username="u", password="p",
                             host_key_fingerprint="SHA256:" + "A" * 43)
    for call in (lambda: sftp.probe(target), lambda: sftp.host_key_fingerprint(host, listener.port),
                 lambda: sftp.probe(sftp.SftpTarget(host=host, port=listener.port, username="u", password="p"))):
        with pytest.raises(sftp.SftpError) as err:
            call()
        assert err.value.reason == sftp.SftpError.ADDRESS_REFUSED
        assert "not on the public internet" in err.value.message
    assert listener.connections() == 0


def test_sftp_to_the_real_sshd_with_private_targets_allowed(sftp_server, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    sftp.probe(sftp_server.target())
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(sftp.SftpError) as err:
        sftp.probe(sftp_server.target())
    assert err.value.reason == sftp.SftpError.ADDRESS_REFUSED


@pytest.mark.parametrize("reply", [
    b"INTERNAL-SECRET: xyz\r\n" * 120,  # more lines than paramiko reads: "Indecipherable protocol version"
    b"INTERNAL-SECRET: xyz\r\n",  # one line, then silence
    b"SSH-1.5-INTERNAL-SECRET: xyz\r\n",  # an SSH version paramiko refuses, naming it
    b"SSH-2.0-OpenSSH_9.6\r\n" + b"INTERNAL-SECRET: xyz" * 10,  # garbage where the key exchange should be
])
def test_what_an_internal_service_answers_never_reaches_the_error(settings, monkeypatch, reply):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    monkeypatch.setattr(sftp, "CONNECT_TIMEOUT", 3.0)  # the one-line case waits for paramiko's banner timeout
    with Listener(reply) as service:
        target = sftp.SftpTarget(host="127.0.0.1", port=service.port, username="u", password="p",
                                 host_key_fingerprint="SHA256:" + "A" * 43)
        for call in (lambda: sftp.probe(target), lambda: sftp.host_key_fingerprint("127.0.0.1", service.port)):
            with pytest.raises(sftp.SftpError) as err:
                call()
            assert err.value.reason == sftp.SftpError.UNREACHABLE
            assert "INTERNAL" not in err.value.message and "SECRET" not in err.value.message
            assert "xyz" not in str(err.value)
        assert service.connections() >= 1
