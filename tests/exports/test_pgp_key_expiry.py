"""Issue 13 item 12: a PGP key that expires after saving. Against the real gpg binary: gpg's own reason is
kept (not the broken pipe it causes), the run fails with "The encryption key expired on …" and the connection
pauses with that reason instead of retrying; operators are warned 14 days before."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils.html import escape

from exports.models import ExportConnection, ExportRun
from exports.services import connections
from mktops import clock as mk_clock
from mktops import pgp
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.exports.conftest import data_keys, exported_uuids

FAKED = datetime.now(tz=UTC) - timedelta(days=400)  # a key made 400 days ago for one year: expired


def expired_key(gpg_home, email: str = "expired@example.com") -> tuple[str, str]:
    """An encryption key that gpg itself says has expired (made with gpg's faked system time); returns
    the armored key and the expiry day gpg reports."""
    made, added = (f"{FAKED + timedelta(minutes=m):%Y%m%dT%H%M%S}" for m in (0, 10))
    gpg_home.run("--faked-system-time", made, "--quick-gen-key", email, "rsa2048", "sign,cert", "1y")
    fingerprint = gpg_home.fingerprint_of(email)
    # a faked clock starts again at its time in each gpg process: the subkey must not predate its primary key
    gpg_home.run("--faked-system-time", added, "--quick-add-key", fingerprint, "rsa2048", "encr", "1y")
    listing = gpg_home.run("--with-colons", "--list-keys", email).stdout.decode()
    # the latest expiry gpg names (mktops.pgp.gpg_failure reports the latest of its KEYEXPIRED lines)
    expiry = max(int(line.split(":")[6]) for line in listing.splitlines() if line.startswith(("pub", "sub")))
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


# --- the connection: the run fails with gpg's reason, the connection pauses, operators are warned ---------
BASE = "/admin/exports/exportconnection/"


def with_key_expired_after_saving(connection, key: str) -> None:
    """The key was valid when saved (the form refuses an expired one); by now gpg says it has expired."""
    ExportConnection.objects.filter(pk=connection.pk).update(pgp_public_key=key, pgp_fingerprint="old")
    ExportRun.objects.filter(connection=connection).update(pgp_public_key=key, pgp_fingerprint="old")


def test_an_expired_key_fails_the_run_with_gpgs_reason_and_pauses(make_connection, gpg_home, ingest, due, s3,
                                                                   bucket, as_operator_a, operator_a):
    connection = make_connection(encryption="pgp", pgp_public_key=gpg_home.public_key)
    key, day = expired_key(gpg_home)
    with_key_expired_after_saving(connection, key)
    ingest(0, 3)
    (run,) = due()
    run.refresh_from_db()
    reason = pgp.ERR_PGP_KEY_EXPIRED.format(date=day, reason="key expired")
    assert run.status == JobStatus.FAILED and run.last_error == reason  # not "Broken pipe", not retrying
    assert run.next_attempt_at is None or run.attempts == 1
    connection.refresh_from_db()
    assert connection.paused and connection.paused_reason == reason
    assert f"{connection.pgp_expires_at:%Y-%m-%d}" == day
    assert connection.exported_seq == 0 and data_keys(s3, bucket) == []
    assert due(advance=timedelta(hours=7)) == []  # no retry every 6 hours

    page = as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert escape(reason.rstrip(".")) in page
    response = as_operator_a.post(f"{BASE}{connection.pk}/resume/", follow=True)
    assert escape(connections.ERR_RESUME_KEY_EXPIRED.format(date=day)) in response.content.decode()
    assert ExportConnection.objects.get(pk=connection.pk).paused

    # a current key, saved through the service; resume: the next file takes every event not yet exported
    connection.pgp_public_key = gpg_home.public_key
    connections.connection_save(connection=connection, by=operator_a)
    connections.connection_resume(connection=ExportConnection.objects.get(pk=connection.pk), by=operator_a)
    (again,) = due()
    again.refresh_from_db()
    assert again.status == JobStatus.DONE, again.last_error
    assert exported_uuids(s3, bucket, gpg_home) == ["uuid-0", "uuid-1", "uuid-2"]
    assert AuditLog.objects.filter(action="s3_export.pause", user=None, detail__reason=reason).count() == 1


def test_operators_are_warned_14_days_before_the_key_expires(make_connection, gpg_home, as_operator_a,
                                                             as_support_a, clock):
    gpg_home.generate("soon@example.com", algo="rsa2048", expire="20d")
    connection = make_connection(encryption="pgp", pgp_public_key=gpg_home.export("soon@example.com"))
    expires = connection.pgp_expires_at
    assert expires is not None and timedelta(days=19) < expires - mk_clock.now() <= timedelta(days=20)
    assert b'id="export-key-warning"' not in as_operator_a.get(f"{BASE}{connection.pk}/change/").content

    clock.advance(timedelta(days=7))  # 13 days left
    warning = connections.MSG_KEY_EXPIRES.format(date=expires, days=(expires - mk_clock.now()).days)
    assert escape(warning) in as_operator_a.get(f"{BASE}{connection.pk}/change/").content.decode()
    assert escape(f"“warehouse”: {warning}") in as_operator_a.get(BASE).content.decode()
    assert escape(warning) in as_support_a.get(f"{BASE}{connection.pk}/change/").content.decode()  # reads it too
