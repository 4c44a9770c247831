"""The one module that talks PGP (python-gnupg over the `gpg` binary).

- `key_inspect(armored)`: parse a tenant's armored public key and say in a
  sentence why it is unusable (garbage, a private key, sign-only, expired,
  revoked, several keys), or return its fingerprint, algorithm and expiry.
- `EncryptingWriter`: stream plaintext in, get encrypted bytes out through a
  callback, holding no more than pipe buffers in memory.

Each operation uses its own short temporary GNUPGHOME (GnuPG's socket paths
are limited to ~107 bytes) holding only the tenant's public key; tenants'
keys are never certified by us, hence `always_trust`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import gnupg

from mktops import clock
from mktops.errors import OutsideError

ERR_PGP_EMPTY = "Paste the tenant's armored PGP public key (it starts with -----BEGIN PGP PUBLIC KEY BLOCK-----)."
ERR_PGP_PRIVATE = ("This is a private (secret) key. Never share it: paste the public key instead "
                   "(gpg --armor --export <fingerprint>).")
ERR_PGP_GARBAGE = ("This is not an armored PGP public key: nothing could be read from it. "
                   "Export it with gpg --armor --export <fingerprint>.")
ERR_PGP_SEVERAL = "This block holds {count} keys; paste exactly one public key."
ERR_PGP_SIGN_ONLY = ("This key can only sign, not encrypt: it has no usable encryption subkey. "
                     "Add one (gpg --quick-add-key <fingerprint> rsa3072 encr) and export it again.")
ERR_PGP_EXPIRED = "This key expired on {date}; extend it or paste a current key."
ERR_PGP_REVOKED = "This key has been revoked; paste a current key."
ERR_PGP_FAILED = "gpg could not encrypt with this key: {detail}"
ERR_PGP_KEY_EXPIRED = ("The encryption key expired on {date} (gpg: {reason}): paste a current public key, or "
                       "extend this one and paste it again.")
# gpg's INV_RECP / INV_SGNR reason codes (doc/DETAILS), in gpg's own words
INVALID_RECIPIENT = {"0": "no specific reason", "1": "not found", "2": "ambiguous specification",
                     "3": "wrong key usage", "4": "key revoked", "5": "key expired", "6": "no CRL known",
                     "7": "CRL too old", "8": "policy mismatch", "9": "not a secret key", "10": "key not trusted",
                     "11": "missing certificate", "12": "missing issuer certificate", "13": "key disabled",
                     "14": "syntax error in specification"}

ALGORITHMS = {1: "RSA", 2: "RSA", 3: "RSA", 16: "ElGamal", 17: "DSA", 18: "ECDH", 19: "ECDSA", 22: "EdDSA",
              25: "X25519", 27: "Ed25519"}
BUFFER = 64 * 1024


class PgpError(OutsideError, ValueError):
    """A key or an encryption that did not work, in a sentence a person can act on.

    Also a ValueError: a key that cannot be used is bad input on the form."""

    REASON = "pgp"

    def __init__(self, message: str):
        super().__init__(self.REASON, message)


class PgpKeyExpired(PgpError):
    """gpg refused the tenant's key because it expired (`expired_on` when gpg said when)."""

    REASON = "pgp_key_expired"

    def __init__(self, message: str, expired_on: datetime | None = None):
        super().__init__(message)
        self.expired_on = expired_on


def gpg_failure(status_text: str) -> PgpError | None:
    """gpg's own reason for refusing to encrypt, from its status lines (`[GNUPG:] KEYEXPIRED <epoch>`,
    `[GNUPG:] INV_RECP <code> <who>`), as a PgpError; None when the lines give none."""
    expired_on, invalid = None, None
    for line in status_text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0] == "[GNUPG:]" and parts[1] == "KEYEXPIRED" and parts[2].isdigit():
            expired_on = max(expired_on or _epoch(parts[2]), _epoch(parts[2]))
        elif len(parts) >= 3 and parts[0] == "[GNUPG:]" and parts[1] == "INV_RECP":
            invalid = parts[2]
    if invalid == "5" or (expired_on and invalid is not None):
        date = f"{expired_on:%Y-%m-%d}" if expired_on else "an earlier date"
        return PgpKeyExpired(ERR_PGP_KEY_EXPIRED.format(date=date, reason=INVALID_RECIPIENT["5"]), expired_on)
    if invalid is not None:
        reason = INVALID_RECIPIENT.get(invalid, invalid)
        return PgpError(ERR_PGP_FAILED.format(detail=f"the key was refused ({reason})"))
    return None


@dataclass(frozen=True)
class KeyInfo:
    fingerprint: str
    algorithm: str
    expires_at: datetime | None


@contextlib.contextmanager
def _home():
    home = tempfile.mkdtemp(prefix="mkp", dir="/tmp")
    os.chmod(home, 0o700)
    try:
        yield gnupg.GPG(gnupghome=home)
    finally:
        if any(name.startswith("S.") for name in os.listdir(home)):
            # an agent was started for this home: stop it before removing its sockets
            subprocess.run(["gpgconf", "--homedir", home, "--kill", "all"], capture_output=True, check=False)
        shutil.rmtree(home, ignore_errors=True)


def _epoch(value: str) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _describe(key: dict) -> KeyInfo:
    try:
        algorithm = f"{ALGORITHMS.get(int(key['algo']), 'algorithm ' + key['algo'])} {key['length']}"
    except (KeyError, ValueError):
        algorithm = "unknown"
    usable = [sub for sub in key.get("subkey_info", {}).values()
              if "e" in sub.get("cap", "") and sub.get("trust") not in ("e", "r")]
    expiries = [_epoch(sub.get("expires", "")) for sub in usable]
    primary = _epoch(key.get("expires", ""))
    # the key stops working when its last usable encryption subkey or its primary key expires
    candidates = [e for e in ([None if None in expiries else max(expiries, default=None)] + [primary]) if e]
    return KeyInfo(fingerprint=key["fingerprint"], algorithm=algorithm,
                   expires_at=min(candidates) if candidates else None)


def _refuse_unusable(key: dict, now: datetime) -> None:
    trust = key.get("trust", "")
    if trust == "r":
        raise PgpError(ERR_PGP_REVOKED)
    expires = _epoch(key.get("expires", ""))
    if trust == "e" or (expires and expires <= now):
        raise PgpError(ERR_PGP_EXPIRED.format(date=f"{expires:%Y-%m-%d}" if expires else "an earlier date"))
    if "E" not in key.get("cap", ""):
        subkeys = key.get("subkey_info", {}).values()
        encrypting = [s for s in subkeys if "e" in s.get("cap", "")]
        if encrypting and all(s.get("trust") == "r" for s in encrypting):
            raise PgpError(ERR_PGP_REVOKED)
        if encrypting:
            last = max((_epoch(s.get("expires", "")) for s in encrypting), key=lambda d: d or now)
            raise PgpError(ERR_PGP_EXPIRED.format(date=f"{last:%Y-%m-%d}" if last else "an earlier date"))
        raise PgpError(ERR_PGP_SIGN_ONLY)


def key_inspect(armored: str, *, now: datetime | None = None) -> KeyInfo:
    """Validate a tenant's public key; raises PgpError with the reason in a sentence."""
    text = (armored or "").strip()
    if not text:
        raise PgpError(ERR_PGP_EMPTY)
    if "PRIVATE KEY BLOCK" in text:
        # refused before gpg sees it: secret material is never imported
        raise PgpError(ERR_PGP_PRIVATE)
    with _home() as gpg:
        result = gpg.import_keys(text)
        if getattr(result, "sec_imported", 0):
            raise PgpError(ERR_PGP_PRIVATE)
        keys = gpg.list_keys()
    if not keys:
        raise PgpError(ERR_PGP_GARBAGE)
    if len(keys) > 1:
        raise PgpError(ERR_PGP_SEVERAL.format(count=len(keys)))
    _refuse_unusable(keys[0], now or clock.now())
    return _describe(keys[0])


class EncryptingWriter:
    """`write()` plaintext; the encrypted stream goes to `sink(bytes)` as gpg produces it.

    gpg runs as a subprocess fed through a pipe; python-gnupg's reader thread
    hands each output chunk to `sink` and keeps nothing. If `sink` raises, the
    rest of gpg's output is drained and dropped and the next `write()` or
    `close()` raises that error, so nothing blocks. Always `close()` (success)
    or `abort()` (failure).
    """

    def __init__(self, armored_key: str, sink: Callable[[bytes], None]):
        self.sink = sink
        self.error: BaseException | None = None
        self.result = None
        self._home = _home()
        gpg = self._home.__enter__()
        try:
            imported = gpg.import_keys(armored_key)
            if not imported.fingerprints:
                raise PgpError(ERR_PGP_GARBAGE)
        except BaseException:
            self._home.__exit__(None, None, None)
            raise
        # python-gnupg drops its result when the pipe breaks (gpg refused the key and stopped reading):
        # keep it, for gpg's own reason
        self._made: list = []
        make = gpg.result_map["crypt"]
        gpg.result_map = {**gpg.result_map, "crypt": lambda owner: self._made.append(make(owner)) or self._made[-1]}
        read_fd, write_fd = os.pipe()
        self._input = os.fdopen(write_fd, "wb", buffering=BUFFER)
        self._reader = os.fdopen(read_fd, "rb", buffering=BUFFER)
        gpg.on_data = self._on_data
        gpg.buffer_size = BUFFER
        self._thread = threading.Thread(
            target=self._run, args=(gpg, imported.fingerprints[0]), name="pgp-encrypt", daemon=True)
        self._thread.start()

    def _on_data(self, chunk: bytes):
        if chunk and self.error is None:
            try:
                self.sink(chunk)
            except BaseException as exc:  # reported to the writer; gpg's output is drained
                self.error = exc
        return False  # python-gnupg keeps nothing in memory

    def _run(self, gpg, fingerprint: str) -> None:
        try:
            self.result = gpg.encrypt_file(self._reader, [fingerprint], armor=False, always_trust=True)
        except BaseException as exc:
            self.error = self.error or exc
        finally:
            # gpg is gone: a writer still pushing plaintext gets BrokenPipeError instead of blocking
            with contextlib.suppress(Exception):
                self._reader.close()

    def write(self, data: bytes) -> None:
        if self.error is not None:
            raise self.error
        try:
            self._input.write(data)
        except (BrokenPipeError, ValueError):
            self._thread.join()
            raise self._failure() from None

    def _failure(self) -> BaseException:
        """Why gpg stopped: its own reason when it gave one (never the pipe that broke because of it)."""
        result = self.result or (self._made[-1] if self._made else None)
        refused = gpg_failure(getattr(result, "stderr", "") or "")
        if refused is not None:
            return refused
        if self.error is not None and not isinstance(self.error, OSError):
            return self.error
        return PgpError(ERR_PGP_FAILED.format(detail=self._status()))

    def _status(self) -> str:
        result = self.result or (self._made[-1] if self._made else None)
        status = getattr(result, "status", "") or ""
        stderr = getattr(result, "stderr", "") or ""
        lines = [ln for ln in stderr.splitlines() if ln and not ln.startswith("[GNUPG:]")]
        return status or (lines[-1] if lines else "gpg stopped")

    def close(self) -> None:
        """Finish the stream; raises if gpg or the sink failed."""
        try:
            with contextlib.suppress(BrokenPipeError):
                self._input.close()
            self._thread.join()
        finally:
            self._home.__exit__(None, None, None)
        if self.error is not None or self.result is None or not self.result.ok:
            raise self._failure()

    def abort(self) -> None:
        with contextlib.suppress(Exception):
            self._input.close()
        self._thread.join(timeout=60)
        self._home.__exit__(None, None, None)


def encrypt_bytes(armored_key: str, data: bytes) -> bytes:
    """Encrypt a small payload (the connection test's probe)."""
    out = bytearray()
    writer = EncryptingWriter(armored_key, out.extend)
    try:
        writer.write(data)
    except BaseException:
        writer.abort()
        raise
    writer.close()
    return bytes(out)
