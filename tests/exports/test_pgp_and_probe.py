"""Key validation with the real gpg binary, and Test connection against the real S3 server."""

import glob
import os

import pytest
from django.core.exceptions import ValidationError

from exports.services import connections
from mktops import pgp
from mktops.storage import s3 as storage


# --- keys ---------------------------------------------------------------------
def test_good_key_shows_fingerprint_algorithm_expiry(gpg_home):
    info = pgp.key_inspect(gpg_home.public_key)
    assert info.fingerprint == gpg_home.fingerprint
    assert info.algorithm == "RSA 2048" and info.expires_at is not None


def test_private_key_is_refused_with_a_sentence(gpg_home):
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(gpg_home.export(gpg_home.email, secret=True))
    assert str(err.value) == pgp.ERR_PGP_PRIVATE


def test_sign_only_key_is_refused(gpg_home):
    gpg_home.generate("signer@example.com", algo="rsa2048", sign_only=True)
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(gpg_home.export("signer@example.com"))
    assert str(err.value) == pgp.ERR_PGP_SIGN_ONLY


@pytest.mark.parametrize("garbage", ["", "hello", "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP "
                                                   "PUBLIC KEY BLOCK-----"])
def test_garbage_is_refused(garbage):
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(garbage)
    assert str(err.value) in (pgp.ERR_PGP_GARBAGE, pgp.ERR_PGP_EMPTY)


def test_expired_key_is_refused(gpg_home):
    email = "old@example.com"
    gpg_home.run("--faked-system-time", "20200101T000000!", "--quick-gen-key", email, "rsa2048", "sign,cert", "1d")
    fingerprint = gpg_home.fingerprint_of(email)
    gpg_home.run("--faked-system-time", "20200101T000000!", "--quick-add-key", fingerprint, "rsa2048", "encr", "1d")
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(gpg_home.export(email))
    assert str(err.value) == pgp.ERR_PGP_EXPIRED.format(date="2020-01-02")


def test_revoked_key_is_refused(gpg_home):
    email = "revoked@example.com"
    fingerprint = gpg_home.generate(email, algo="rsa2048")
    (certificate,) = glob.glob(os.path.join(gpg_home.home, "openpgp-revocs.d", f"{fingerprint}.rev"))
    with open(certificate) as f:
        text = f.read().replace(":-----BEGIN PGP PUBLIC KEY BLOCK-----", "-----BEGIN PGP PUBLIC KEY BLOCK-----")
    gpg_home.run("--import", input=text.encode())
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(gpg_home.export(email))
    assert str(err.value) == pgp.ERR_PGP_REVOKED


def test_two_keys_in_one_block_are_refused(gpg_home):
    gpg_home.generate("second@example.com", algo="rsa2048")
    with pytest.raises(pgp.PgpError) as err:
        pgp.key_inspect(gpg_home.export(gpg_home.email) + gpg_home.export("second@example.com"))
    assert str(err.value) == pgp.ERR_PGP_SEVERAL.format(count=2)


def test_streaming_encryption_decrypts_with_gpg(gpg_home):
    out = bytearray()
    writer = pgp.EncryptingWriter(gpg_home.public_key, out.extend)
    data = os.urandom(256 * 1024)
    for offset in range(0, len(data), 10_000):
        writer.write(data[offset:offset + 10_000])
    writer.close()
    assert gpg_home.decrypt(bytes(out)) == data


def test_a_failing_sink_stops_the_writer_without_hanging(gpg_home):
    def sink(_chunk):
        raise storage.S3Error(storage.S3Error.UNREACHABLE, "gone")

    writer = pgp.EncryptingWriter(gpg_home.public_key, sink)
    with pytest.raises(storage.S3Error):
        for _ in range(200):
            writer.write(os.urandom(64 * 1024))
        writer.close()
    writer.abort()


def test_connection_with_bad_key_is_not_saved(make_connection, gpg_home):
    with pytest.raises(ValidationError) as err:
        make_connection(encryption="pgp", pgp_public_key=gpg_home.export(gpg_home.email, secret=True))
    assert err.value.message_dict["pgp_public_key"] == [pgp.ERR_PGP_PRIVATE]


# --- Test connection ---------------------------------------------------------------
def test_probe_is_uploaded_plain(make_connection, s3, bucket):
    connection = make_connection(folder_path="f")
    outcome = connections.connection_test(connection=connection)
    assert outcome.ok, outcome.message
    assert outcome.detail.startswith("f_warehouse/mktops_connection_test_")
    assert s3.read(outcome.detail, bucket) == connections.PROBE_TEXT
    connection.refresh_from_db()
    assert connection.last_test_ok is True and connection.last_test_message == outcome.message


def test_probe_is_encrypted_with_the_tenants_key(make_connection, s3, bucket, gpg_home):
    connection = make_connection(encryption="pgp", pgp_public_key=gpg_home.public_key)
    outcome = connections.connection_test(connection=connection)
    assert outcome.ok and outcome.detail.endswith(".txt.gpg")
    assert gpg_home.decrypt(s3.read(outcome.detail, bucket)) == connections.PROBE_TEXT


def test_probe_reports_no_such_bucket(make_connection, s3):
    outcome = connections.connection_test(connection=make_connection(bucket="no-such-bucket-probe"))
    assert not outcome.ok and outcome.reason == storage.S3Error.NO_SUCH_BUCKET
    assert "does not exist" in outcome.message


def test_probe_reports_wrong_region(make_connection, s3):
    bucket = "mktops-eu-bucket-probe"
    s3.boto3().create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    outcome = connections.connection_test(connection=make_connection(bucket=bucket, name="eu"))
    assert not outcome.ok and outcome.reason == storage.S3Error.WRONG_REGION
    assert "is in eu-west-1, not in us-east-1" in outcome.message


def test_probe_reports_unreachable_endpoint(make_connection, s3, settings):
    connection = make_connection()
    settings.AWS_S3_ENDPOINT_URL = "http://127.0.0.1:9"
    outcome = connections.connection_test(connection=connection)
    assert not outcome.ok and outcome.reason == storage.S3Error.UNREACHABLE
    assert "Could not reach the S3 endpoint" in outcome.message


def test_probe_reports_an_unusable_key_now(make_connection, s3, gpg_home):
    connection = make_connection(encryption="pgp", pgp_public_key=gpg_home.public_key)
    connection.pgp_public_key = "garbage"  # e.g. edited in the database by hand
    outcome = connections.connection_test(connection=connection)
    assert not outcome.ok and outcome.reason == "pgp"


def test_probe_reports_access_denied(make_connection, s3, settings, s3_checking_credentials):
    connection = make_connection()
    settings.AWS_S3_ENDPOINT_URL = s3_checking_credentials
    outcome = connections.connection_test(connection=connection)
    assert not outcome.ok and outcome.reason == storage.S3Error.ACCESS_DENIED, outcome.message
    assert "denied" in outcome.message
