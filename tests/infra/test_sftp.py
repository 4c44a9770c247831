"""mktops.storage.sftp against a real OpenSSH sshd (the `sftp_server` fixture)."""

import os
import socket

import pytest

from mktops.storage import sftp


def reason_of(call, *args) -> sftp.SftpError:
    with pytest.raises(sftp.SftpError) as err:
        call(*args)
    return err.value


@pytest.mark.parametrize("user", ["password", "key"])
def test_put_read_remove(sftp_server, user):
    target = sftp_server.target(user)
    sftp.put_file(target, "2026/11/23/msg-1.eml", b"Subject: hi\r\n\r\nbody")
    assert sftp_server.read("2026/11/23/msg-1.eml") == b"Subject: hi\r\n\r\nbody"
    assert sftp.read_file(target, "2026/11/23/msg-1.eml") == b"Subject: hi\r\n\r\nbody"
    # written to a temporary name and renamed: nothing else is left behind
    assert sftp_server.files() == ["2026/11/23/msg-1.eml"]
    sftp.remove_file(target, "2026/11/23/msg-1.eml")
    assert not sftp_server.exists("2026/11/23/msg-1.eml")
    sftp.remove_file(target, "2026/11/23/msg-1.eml")  # already gone: not an error


def test_overwrite_and_large_file(sftp_server):
    target = sftp_server.target()
    sftp.put_file(target, "same.bin", b"first")
    data = os.urandom(3 * 1024 * 1024)
    sftp.put_file(target, "same.bin", data)
    assert sftp_server.read("same.bin") == data


@pytest.mark.parametrize("kind", ["rsa", "ecdsa"])
def test_other_key_formats(sftp_server, kind):
    target = sftp_server.target("key", private_key=sftp_server.add_key(kind))
    sftp.probe(target)
    assert sftp_server.files() == []  # the probe file is removed again


def test_relative_folder_and_session(sftp_server):
    with sftp.session(sftp_server.target()) as session:
        session.put_file("one.txt", b"1")
        session.put_file("two.txt", b"2")
        assert session.read_file("two.txt") == b"2"
    assert sftp_server.files() == ["one.txt", "two.txt"]


def test_paths_must_stay_under_the_folder(sftp_server):
    target = sftp_server.target()
    for bad in ("../escape.txt", "/etc/passwd", ""):
        assert reason_of(sftp.put_file, target, bad, b"x").reason == sftp.SftpError.OTHER


def test_wrong_password(sftp_server):
    err = reason_of(sftp.probe, sftp_server.target(password="not-the-password"))
    assert err.reason == sftp.SftpError.AUTH_FAILED
    assert "wrong user name or password" in err.message
    assert "not-the-password" not in err.message


def test_key_not_authorised_and_unreadable_key(sftp_server):
    # the key user's key is not authorised for the password user
    target = sftp_server.target("key", username=sftp_server.password_user.username)
    assert reason_of(sftp.probe, target).reason == sftp.SftpError.AUTH_FAILED
    err = reason_of(sftp.probe, sftp_server.target("key", private_key="not a key"))
    assert err.reason == sftp.SftpError.AUTH_FAILED
    assert "could not be read" in err.message


def test_changed_host_key_is_refused(sftp_server):
    pinned = sftp_server.host_key_fingerprint
    target = sftp_server.target()
    sftp.probe(target)
    new = sftp_server.restart_with_new_host_key()
    assert new != pinned
    err = reason_of(sftp.put_file, target, "x.txt", b"secret")
    assert err.reason == sftp.SftpError.HOST_KEY_MISMATCH
    assert "changed" in err.message and pinned in err.message and new in err.message
    assert not sftp_server.exists("x.txt")
    sftp.probe(sftp_server.target())  # pinning the new key works


def test_missing_pin_is_refused_and_shows_the_key(sftp_server):
    err = reason_of(sftp.put_file, sftp_server.target(host_key_fingerprint=""), "x.txt", b"secret")
    assert err.reason == sftp.SftpError.HOST_KEY_MISSING
    assert sftp_server.host_key_fingerprint in err.message
    assert sftp_server.files() == []


def test_host_key_fingerprint_matches_ssh_keygen(sftp_server):
    assert sftp.host_key_fingerprint(sftp_server.host, sftp_server.port) == sftp_server.host_key_fingerprint
    # padding and an MD5 pin are accepted too
    sftp.probe(sftp_server.target(host_key_fingerprint=sftp_server.host_key_fingerprint + "="))


def test_stopped_server_is_unreachable(sftp_server):
    target = sftp_server.target()
    sftp_server.stop()
    err = reason_of(sftp.probe, target)
    assert err.reason == sftp.SftpError.UNREACHABLE
    assert "refused the connection" in err.message and "firewall" in err.message
    err = reason_of(sftp.host_key_fingerprint, sftp_server.host, sftp_server.port)
    assert err.reason == sftp.SftpError.UNREACHABLE
    sftp_server.start()
    sftp.probe(target)


def test_silent_host_times_out(sftp_server, monkeypatch):
    """Something accepts the TCP connection but never speaks SSH (a proxy, a filtering firewall)."""
    monkeypatch.setattr(sftp, "CONNECT_TIMEOUT", 0.5)  # the real limit is 10 s
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        target = sftp_server.target(port=silent.getsockname()[1])
        err = reason_of(sftp.probe, target)
    assert err.reason == sftp.SftpError.UNREACHABLE
    assert "did not answer" in err.message


def test_missing_folder(sftp_server):
    target = sftp_server.target(folder=sftp_server.folder + "/not-there")
    err = reason_of(sftp.probe, target)
    assert err.reason == sftp.SftpError.NO_SUCH_FOLDER
    assert "not-there" in err.message and "does not exist" in err.message
    assert reason_of(sftp.read_file, target, "a.txt").reason == sftp.SftpError.NO_SUCH_FOLDER


def test_missing_file(sftp_server):
    err = reason_of(sftp.read_file, sftp_server.target(), "nope.txt")
    assert err.reason == sftp.SftpError.NO_SUCH_FILE


def test_permission_denied(sftp_server):
    folder = sftp_server.mkdir("read-only", mode=0o555)
    err = reason_of(sftp.probe, sftp_server.target(folder=folder))
    assert err.reason == sftp.SftpError.PERMISSION_DENIED
    assert "Permission denied" in err.message and sftp_server.password_user.username in err.message
    err = reason_of(sftp.put_file, sftp_server.target(), "read-only/sub/x.txt", b"x")
    assert err.reason == sftp.SftpError.PERMISSION_DENIED


def test_factory_gives_independent_servers(sftp_server_factory):
    one, two = sftp_server_factory(), sftp_server_factory()
    assert one.port != two.port and one.host_key_fingerprint != two.host_key_fingerprint
    err = reason_of(sftp.probe, one.target(host_key_fingerprint=two.host_key_fingerprint))
    assert err.reason == sftp.SftpError.HOST_KEY_MISMATCH
