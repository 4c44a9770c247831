"""The one module that talks SFTP (paramiko).

A tenant's SFTP server is reached through an `SftpTarget`: host and port,
password or private-key login, the server's pinned host key fingerprint and the
base folder files go under. Every call opens its own connection (or use
`session(target)` for several operations on one connection, or a `SessionPool` for a batch of
writes from several threads) and closes it.

The host key is always verified against the pinned fingerprint
(`SHA256:<base64>` as `ssh-keygen -lf` prints it; `MD5:aa:bb:…` is accepted
too): an empty pin is refused (`HOST_KEY_MISSING`), a different key is refused
(`HOST_KEY_MISMATCH`). `host_key_fingerprint()` shows what a server presents so
an operator can compare it with what the server's administrator gives them.

Every connection goes through the core's outbound-address guard (`mktops.net`): the
host is resolved, refused unless public (`ADDRESS_REFUSED`), and the socket goes to
the address that was checked, each time a connection is opened.

Errors come out as `SftpError` with a stable `reason` code and a `message`
sentence a person can act on; passwords and keys never appear in either, and
neither does anything the far side sent (its banner, its error texts, the
algorithms it offers): a tenant could point the host at an internal service and
read its answers in our error messages. The fingerprint of the key a server
presents is ours (a hash we compute), so it is shown.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import posixpath
import socket
import stat
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import paramiko

from mktops import net
from mktops.errors import OutsideError

CONNECT_TIMEOUT = 10.0  # TCP connect, SSH banner, key exchange, authentication
IO_TIMEOUT = 30.0  # one SFTP request once connected

# host key families tried when the first key the server presents is not the
# pinned one: a server usually has several host keys, the operator pinned one
_HOST_KEY_FAMILIES = (
    ("ssh-ed25519",),
    ("ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521"),
    ("rsa-sha2-512", "rsa-sha2-256"),
)
_KEY_CLASSES = (paramiko.Ed25519Key, paramiko.ECDSAKey, paramiko.RSAKey)


class SftpError(OutsideError):
    """What went wrong talking to an SFTP server, in words. `reason` is a stable code."""

    ADDRESS_REFUSED = net.AddressRefused.BLOCKED  # the host is not a public address
    AUTH_FAILED = "auth_failed"
    HOST_KEY_MISMATCH = "host_key_mismatch"
    HOST_KEY_MISSING = "host_key_missing"
    UNREACHABLE = "unreachable"
    PERMISSION_DENIED = "permission_denied"
    NO_SUCH_FOLDER = "no_such_folder"
    NO_SUCH_FILE = "no_such_file"  # read_file of a file that is not there (a write names the folder instead)
    OTHER = "other"


@dataclass(frozen=True)
class SftpTarget:
    host: str
    port: int = 22
    username: str = ""
    password: str = field(default="", repr=False)  # password auth, or
    private_key: str = field(default="", repr=False)  # private key text (OpenSSH/PEM; RSA, Ed25519, ECDSA)
    host_key_fingerprint: str = ""  # pinned, "SHA256:<base64 no padding>" as `ssh-keygen -lf` prints
    folder: str = ""  # remote base folder; relative paths are under it

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


# --- fingerprints -------------------------------------------------------------
def fingerprint_of(key: paramiko.PKey) -> str:
    """`SHA256:<base64, no padding>` of a public key, as `ssh-keygen -lf` prints it."""
    return "SHA256:" + base64.b64encode(hashlib.sha256(key.asbytes()).digest()).decode().rstrip("=")


def _md5_of(key: paramiko.PKey) -> str:
    digest = hashlib.md5(key.asbytes()).hexdigest()  # noqa: S324 - legacy fingerprint format, not security
    return "MD5:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def _normalise(fingerprint: str) -> str:
    value = "".join(fingerprint.split())
    if value.upper().startswith("MD5:"):
        return "MD5:" + value[4:].lower()
    if value.upper().startswith("SHA256:"):
        value = value[7:]
    return "SHA256:" + value.rstrip("=")


def _matches(pinned: str, key: paramiko.PKey) -> bool:
    pinned = _normalise(pinned)
    return pinned in (fingerprint_of(key), _md5_of(key))


# the login methods a server may name; anything else it sends is not repeated
_AUTH_METHODS = ("publickey", "password", "keyboard-interactive", "hostbased", "gssapi-with-mic")


# --- connecting ---------------------------------------------------------------
def _unreachable(target_address: str, exc: BaseException) -> SftpError:
    """Our sentence for a failed connection; never `str(exc)`, which can carry the far side's bytes."""
    if isinstance(exc, ConnectionRefusedError):
        return SftpError(SftpError.UNREACHABLE, f"{target_address} refused the connection: the SFTP server is "
                                                "down, listens on another port, or a firewall rejects us.")
    if isinstance(exc, (TimeoutError, socket.timeout)):
        return SftpError(SftpError.UNREACHABLE, f"{target_address} did not answer in time: the host is down or a "
                                                "firewall drops our connection (allow the platform's addresses).")
    if isinstance(exc, OSError) and exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
        return SftpError(SftpError.UNREACHABLE, f"There is no route to {target_address}: the host is down or "
                                                "a firewall blocks it.")
    if isinstance(exc, EOFError) or (isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)):
        return SftpError(SftpError.UNREACHABLE, f"{target_address} closed the connection: a firewall or the "
                                                "server's connection limits cut it off.")
    if isinstance(exc, paramiko.ssh_exception.IncompatiblePeer):
        return SftpError(SftpError.UNREACHABLE, f"{target_address} speaks an SSH version or offers algorithms we "
                                                "do not support: the SFTP server needs SSH 2 with current key "
                                                "exchange, cipher and host key algorithms (OpenSSH 7 or later).")
    if isinstance(exc, paramiko.SSHException):
        return SftpError(SftpError.UNREACHABLE, f"{target_address} did not answer as an SSH server: check the "
                                                "port (SFTP usually listens on 22), or a firewall or proxy is in "
                                                "the way.")
    return SftpError(SftpError.UNREACHABLE, f"Could not connect to {target_address}: the connection failed or "
                                            "was cut. Check the host and port, and that the server accepts "
                                            "connections from the platform's addresses.")


def _connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection to the address the guard checked (again now: DNS may have changed since the save)."""
    address = f"{host}:{port}"
    try:
        return net.connect_tcp(host, port, timeout=timeout)
    except net.BlockedAddress as exc:
        raise SftpError(SftpError.ADDRESS_REFUSED, exc.message) from exc
    except net.AddressRefused as exc:  # the name does not resolve
        raise SftpError(SftpError.UNREACHABLE, exc.message) from exc
    except OSError as exc:
        raise _unreachable(address, exc) from exc


def _handshake(host: str, port: int, timeout: float, key_types: tuple[str, ...] | None = None) -> paramiko.Transport:
    """Connect and run the SSH key exchange; the caller closes the transport.

    With `key_types`, a server holding no key of those types raises paramiko's IncompatiblePeer
    for the caller to move on to the next family; otherwise every failure is an SftpError."""
    address = f"{host}:{port}"
    sock = _connect(host, port, timeout)
    transport = paramiko.Transport(sock)
    transport.banner_timeout = timeout
    transport.handshake_timeout = timeout
    transport.auth_timeout = timeout
    if key_types:
        transport.get_security_options().key_types = key_types
    try:
        # the banner and key-exchange timeouts above fire first; this is only the outer bound
        transport.start_client(timeout=2 * timeout)
    except paramiko.ssh_exception.IncompatiblePeer as exc:
        transport.close()
        if key_types:
            raise
        raise _unreachable(address, exc) from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        transport.close()
        raise _unreachable(address, exc) from exc
    try:
        transport.get_remote_server_key()  # start_client returns at its timeout without raising
    except paramiko.SSHException as exc:
        transport.close()
        raise SftpError(SftpError.UNREACHABLE, f"{address} accepted the connection but did not answer the SSH "
                                               f"handshake within {timeout:g} s: it is not an SSH server, it is "
                                               "overloaded, or a firewall or proxy is in the way.") from exc
    return transport


def host_key_fingerprint(host: str, port: int = 22, timeout: float = CONNECT_TIMEOUT) -> str:
    """The fingerprint of the host key the server presents (`SHA256:…`), to help operators pin it."""
    transport = _handshake(host, port, timeout)
    try:
        return fingerprint_of(transport.get_remote_server_key())
    finally:
        transport.close()


def _verified_transport(target: SftpTarget) -> paramiko.Transport:
    """A connection whose host key matches the pinned fingerprint, or an SftpError."""
    if not target.host_key_fingerprint.strip():
        try:
            seen = f" The server presents {host_key_fingerprint(target.host, target.port)}."
        except SftpError as exc:
            if exc.reason == SftpError.ADDRESS_REFUSED:
                raise
            seen = f" (The server could not be reached to show its key: {exc.message})"
        raise SftpError(SftpError.HOST_KEY_MISSING,
                        f"No host key fingerprint is pinned for {target.address}, so the server cannot be "
                        f"verified and nothing is sent.{seen} Confirm it with the server's administrator "
                        "(`ssh-keygen -lf` on the host key) and pin it.")
    first_seen = ""
    transport = _handshake(target.host, target.port, CONNECT_TIMEOUT)
    key = transport.get_remote_server_key()
    if _matches(target.host_key_fingerprint, key):
        return transport
    first_seen = fingerprint_of(key)
    presented_type = transport.host_key_type
    transport.close()
    # the server may hold several host keys: ask for each other family once
    for family in _HOST_KEY_FAMILIES:
        if presented_type in family:
            continue
        try:
            transport = _handshake(target.host, target.port, CONNECT_TIMEOUT, key_types=family)
        except paramiko.ssh_exception.IncompatiblePeer:
            continue  # the server has no key of this family
        if _matches(target.host_key_fingerprint, transport.get_remote_server_key()):
            return transport
        transport.close()
    raise SftpError(SftpError.HOST_KEY_MISMATCH,
                    f"The host key of {target.address} has changed: pinned {_normalise(target.host_key_fingerprint)}, "
                    f"but the server now presents {first_seen}. Nothing was sent. This happens when the server is "
                    "reinstalled, or when someone intercepts the connection: confirm the new key with the server's "
                    "administrator before pinning it.")


def _load_private_key(text: str) -> paramiko.PKey:
    last: Exception | None = None
    for cls in _KEY_CLASSES:
        try:
            return cls.from_private_key(io.StringIO(text.strip() + "\n"))
        except paramiko.PasswordRequiredException as exc:
            raise SftpError(SftpError.AUTH_FAILED, "The private key is protected by a passphrase: give a key "
                                                   "without a passphrase.") from exc
        except (paramiko.SSHException, ValueError, TypeError) as exc:
            last = exc
    raise SftpError(SftpError.AUTH_FAILED, "The private key could not be read: paste the whole key (OpenSSH or PEM; "
                                           "RSA, Ed25519 or ECDSA), including its BEGIN and END lines.") from last


def _authenticate(transport: paramiko.Transport, target: SftpTarget) -> None:
    who = f"{target.username!r} on {target.address}"
    if not target.username:
        raise SftpError(SftpError.AUTH_FAILED, f"No user name is set for {target.address}.")
    try:
        if target.private_key:
            transport.auth_publickey(target.username, _load_private_key(target.private_key))
        elif target.password:
            transport.auth_password(target.username, target.password)
        else:
            raise SftpError(SftpError.AUTH_FAILED, f"Neither a password nor a private key is set for {who}.")
    except paramiko.BadAuthenticationType as exc:
        if not target.private_key and "keyboard-interactive" in exc.allowed_types:
            _authenticate_interactive(transport, target)
            return
        allowed = ", ".join(m for m in _AUTH_METHODS if m in exc.allowed_types) or "none we support"
        method = "key" if target.private_key else "password"
        raise SftpError(SftpError.AUTH_FAILED, f"The server does not accept {method} login for {who} "
                                               f"(it accepts: {allowed}).") from exc
    except paramiko.AuthenticationException as exc:
        what = "private key" if target.private_key else "password"
        raise SftpError(SftpError.AUTH_FAILED, f"The server refused the login of {who}: wrong user name or "
                                               f"{what}, or the key is not authorised for this user.") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise _unreachable(target.address, exc) from exc


def _authenticate_interactive(transport: paramiko.Transport, target: SftpTarget) -> None:
    """Servers that take passwords only as keyboard-interactive (PAM) prompts."""
    try:
        transport.auth_interactive(target.username, lambda title, instructions, prompts: [
            target.password for _ in prompts])
    except paramiko.AuthenticationException as exc:
        raise SftpError(SftpError.AUTH_FAILED, f"The server refused the login of {target.username!r} on "
                                               f"{target.address}: wrong user name or password.") from exc
    except (paramiko.SSHException, OSError, EOFError) as exc:
        raise _unreachable(target.address, exc) from exc


# --- remote paths ---------------------------------------------------------------
def _relative_parts(relative_path: str) -> list[str]:
    parts = [p for p in relative_path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or relative_path.startswith("/") or ".." in parts:
        raise SftpError(SftpError.OTHER, f"{relative_path!r} is not a relative file path under the folder.")
    return parts


class Session:
    """One verified, authenticated SFTP connection to a target."""

    def __init__(self, target: SftpTarget, sftp: paramiko.SFTPClient):
        self.target = target
        self.sftp = sftp
        # folders this session has seen or made: a batch of files into one day's folder checks
        # the base folder and makes the day's folder once, not once per file
        self._known_dirs: set[str] = set()

    # paths
    @property
    def base(self) -> str:
        return self.target.folder.rstrip("/") or ("/" if self.target.folder.startswith("/") else ".")

    def path(self, relative_path: str) -> str:
        return posixpath.join(self.base, *_relative_parts(relative_path))

    def _explain(self, exc: OSError, what: str, path: str) -> SftpError:
        if isinstance(exc, (TimeoutError, socket.timeout, EOFError)) or (
                isinstance(exc, OSError) and exc.errno in (errno.ECONNRESET, errno.EPIPE)):
            return _unreachable(self.target.address, exc)
        where = f"{path!r} on {self.target.address}"
        if exc.errno == errno.EACCES:
            return SftpError(SftpError.PERMISSION_DENIED,
                             f"Permission denied to {what} {where}: give user {self.target.username!r} "
                             "write access to the folder.")
        if exc.errno == errno.ENOENT:
            return SftpError(SftpError.NO_SUCH_FILE, f"There is no file {where}.")
        # the server's own error text stays out: it is the far side's bytes
        return SftpError(SftpError.OTHER, f"The server could not {what} {where}: it answered with an error "
                                          "(not a missing file or a permission): check the folder on the server, "
                                          "its free space and the user's rights.")

    def check_folder(self) -> None:
        try:
            attrs = self.sftp.stat(self.base)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise SftpError(SftpError.NO_SUCH_FOLDER,
                                f"The folder {self.target.folder!r} does not exist on {self.target.address}: "
                                "create it, or correct the folder.") from exc
            raise self._explain(exc, "open the folder", self.base) from exc
        if not stat.S_ISDIR(attrs.st_mode or 0):
            raise SftpError(SftpError.NO_SUCH_FOLDER,
                            f"{self.target.folder!r} on {self.target.address} is a file, not a folder.")

    def _makedirs(self, directory: str) -> None:
        if directory in self._known_dirs:
            return
        missing = []
        current = directory
        while current not in (self.base, "", ".", "/") and current not in self._known_dirs:
            try:
                self.sftp.stat(current)
                break
            except OSError as exc:
                if exc.errno != errno.ENOENT:
                    raise self._explain(exc, "open the folder", current) from exc
                missing.append(current)
                current = posixpath.dirname(current)
        for path in reversed(missing):
            try:
                self.sftp.mkdir(path)
            except OSError as exc:
                # created meanwhile by a concurrent writer?
                with contextlib.suppress(OSError):
                    self.sftp.stat(path)
                    continue
                raise self._write_error(exc, "create the folder", path) from exc
        self._known_dirs.add(directory)

    def put_file(self, relative_path: str, data: bytes) -> None:
        path = self.path(relative_path)
        if self.base not in self._known_dirs:
            self.check_folder()
            self._known_dirs.add(self.base)
        self._makedirs(posixpath.dirname(path))
        temp = posixpath.join(posixpath.dirname(path), f".{posixpath.basename(path)}.{uuid.uuid4().hex[:12]}.part")
        try:
            with self.sftp.open(temp, "wb") as handle:
                handle.set_pipelined(True)
                handle.write(data)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.sftp.remove(temp)
            raise self._write_error(exc, "write", temp) from exc
        try:
            self._replace(temp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                self.sftp.remove(temp)
            raise self._write_error(exc, "rename the written file to", path) from exc

    def _write_error(self, exc: OSError, what: str, path: str) -> SftpError:
        """A write that finds no such file found no folder: it was checked or made a moment ago (or
        earlier in the batch), so it was removed on the server meanwhile. Forgotten, so the next
        file checks and makes it again."""
        if exc.errno != errno.ENOENT:
            return self._explain(exc, what, path)
        directory = posixpath.dirname(path)
        self._known_dirs.clear()
        return SftpError(SftpError.NO_SUCH_FOLDER,
                         f"The folder {directory!r} on {self.target.address} disappeared while a file was "
                         "written into it (removed on the server meanwhile): the next attempt makes it again.")

    def _replace(self, temp: str, path: str) -> None:
        try:
            self.sftp.posix_rename(temp, path)  # OpenSSH: replaces an existing file atomically
            return
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ENOENT):
                raise
            # the server lacks posix-rename@openssh.com: plain SFTP rename does not overwrite
        with contextlib.suppress(OSError):
            self.sftp.remove(path)
        self.sftp.rename(temp, path)

    def read_file(self, relative_path: str) -> bytes:
        path = self.path(relative_path)
        try:
            with self.sftp.open(path, "rb") as handle:
                handle.prefetch()
                return handle.read()
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                self.check_folder()
            raise self._explain(exc, "read", path) from exc

    def remove_file(self, relative_path: str) -> None:
        """Remove a file; a file that is already gone is not an error."""
        path = self.path(relative_path)
        try:
            self.sftp.remove(path)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                self.check_folder()
                return
            raise self._explain(exc, "remove", path) from exc

    def probe(self) -> None:
        name = f".mktops-probe-{uuid.uuid4().hex[:12]}"
        self.put_file(name, b"mktops connection test\n")
        self.remove_file(name)


@contextlib.contextmanager
def session(target: SftpTarget) -> Iterator[Session]:
    """Connect, verify the host key, log in and open SFTP; closed on exit."""
    transport = _verified_transport(target)
    try:
        _authenticate(transport, target)
        try:
            sftp = paramiko.SFTPClient.from_transport(transport)
        except (paramiko.SSHException, OSError, EOFError) as exc:
            raise SftpError(SftpError.OTHER, f"{target.address} accepted the login but refused SFTP: "
                                             "enable the sftp subsystem for this user.") from exc
        sftp.get_channel().settimeout(IO_TIMEOUT)
        try:
            yield Session(target, sftp)
        finally:
            sftp.close()
    finally:
        transport.close()


class SessionPool:
    """Sessions to one target kept open for a batch of writes: each `put_file` takes an idle
    session (or opens one; at most one per thread writing at the same time) and gives it back.

    A session that failed mid-write is closed, not reused. When opening a session fails (refused
    login, changed host key, a host not allowed, down), the error is kept and raised again for the
    rest of the batch without connecting again: a batch of 200 files makes one failed login, not 200.
    `close()` closes every session; a pool is for one batch, not for the life of a process."""

    def __init__(self, target: SftpTarget):
        self.target = target
        self._idle: list[tuple[contextlib.ExitStack, Session]] = []
        self._lock = threading.Lock()
        self._open_error: SftpError | None = None
        self.opened = 0  # sessions opened (logins), for the benchmark and the tests

    def _take(self) -> tuple[contextlib.ExitStack, Session]:
        with self._lock:
            if self._open_error is not None:
                raise self._open_error
            if self._idle:
                return self._idle.pop()
        stack = contextlib.ExitStack()
        try:
            opened = stack.enter_context(session(self.target))
        except SftpError as exc:
            with self._lock:
                self._open_error = exc
            raise
        with self._lock:
            self.opened += 1
        return stack, opened

    def put_file(self, relative_path: str, data: bytes) -> None:
        stack, current = self._take()
        try:
            current.put_file(relative_path, data)
        except SftpError as exc:
            if exc.reason in (SftpError.UNREACHABLE, SftpError.OTHER):
                stack.close()  # the connection may be broken: the next file gets a fresh one
                raise
            self._give_back(stack, current)  # permission or folder: the session itself is fine
            raise
        except BaseException:
            stack.close()
            raise
        self._give_back(stack, current)

    def _give_back(self, stack: contextlib.ExitStack, current: Session) -> None:
        with self._lock:
            self._idle.append((stack, current))

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for stack, _ in idle:
            with contextlib.suppress(Exception):
                stack.close()


# --- the contract the feature apps use ---------------------------------------------
def put_file(target: SftpTarget, relative_path: str, data: bytes) -> None:
    """Write `data` under the target's folder, creating missing intermediate folders;
    written to a temporary name first and renamed into place."""
    with session(target) as s:
        s.put_file(relative_path, data)


def read_file(target: SftpTarget, relative_path: str) -> bytes:
    with session(target) as s:
        return s.read_file(relative_path)


def remove_file(target: SftpTarget, relative_path: str) -> None:
    with session(target) as s:
        s.remove_file(relative_path)


def probe(target: SftpTarget) -> None:
    """Check a target end to end: write a probe file under the folder and remove it."""
    with session(target) as s:
        s.probe()
