"""Issue 13 item 12: a PGP key that expires after saving. Against the real gpg binary: gpg's own reason is
kept (not the broken pipe it causes), the run fails with "The encryption key expired on …" and the connection
pauses with that reason instead of retrying; operators are warned 14 days before."""

from datetime import UTC, datetime, timedelta

import pytest

from mktops import clock as mk_clock
from mktops import pgp

FAKED = datetime.now(tz=UTC) - timedelta(days=400)  # a key made 400 days ago for one year: expired


def expired_key(gpg_home, email: str = "expired@example.com") -> tuple[str, str]:
    """An encryption key that gpg itself says has expired (made with gpg's faked system time); returns
    the armored key and the expiry day gpg reports."""
    when = f"{FAKED:%Y%m%dT%H%M%S}"
    gpg_home.run("--faked-system-time", when, "--quick-gen-key", email, "rsa2048", "sign,cert", "1y")
    fingerprint = gpg_home.fingerprint_of(email)
    gpg_home.run("--faked-system-time", when, "--quick-add-key", fingerprint, "rsa2048", "encr", "1y")
    listing = gpg_home.run("--with-colons", "--list-keys", email).stdout.decode()
    expiry = next(int(line.split(":")[6]) for line in listing.splitlines() if line.startswith("sub"))
    return gpg_home.export(email), f"{datetime.fromtimestamp(expiry, tz=UTC):%Y-%m-%d}"


def test_gpg_says_why_it_refused_the_key(gpg_home):
    key, day = expired_key(gpg_home)
    writer = pgp.EncryptingWriter(key, bytearray().extend)
    with pytest.raises(pgp.PgpKeyExpired) as refused:
        for _ in range(64):  # more than the pipe holds: gpg stops reading when it refuses the key
            writer.write(b"x" * 65536)
        writer.close()
    writer.abort()
    assert str(refused.value) == pgp.ERR_PGP_KEY_EXPIRED.format(date=day, reason="key expired")
    assert "Broken pipe" not in str(refused.value)
    with pytest.raises(pgp.PgpKeyExpired):
        pgp.encrypt_bytes(key, b"small")  # the probe's path: gpg refuses before the pipe breaks


def test_a_current_key_still_encrypts(gpg_home):
    assert gpg_home.decrypt(pgp.encrypt_bytes(gpg_home.public_key, b"hello")) == b"hello"
    assert mk_clock.now()
