"""Issue 14 item 7, the reasons test_hole_07_reasons.py did not provoke.

`wrong_region`, `kms_denied` and `other` come from a scripted S3 far end (tests/fixtures/s3_errors.py):
moto accepts requests from any region and checks no KMS key, so no S3 here answers them. boto3 and
our code run for real against it: a real archive write and a real Test connection.

`no_such_file` and `object_locked` are no longer archive reasons (archive/services/destinations.py says
why); the one write that gave "File missing", a folder removed on the SFTP server during a batch, is
provoked against sshd below and now names the folder."""

import hashlib
import shutil

import pytest

from archive.models import ArchiveSettings, Outcome
from archive.services import config, delivery, destinations
from archive.services.destinations import REASONS
from tests.archive.conftest import email_sent_event, message_for
from tests.archive.test_destinations import use_sftp, use_tenant_bucket
from tests.fixtures.s3_errors import (
    FAR_SIDE_MARK,
    KMS_ACCESS_DENIED,
    KMS_DISABLED,
    OPERATION_ABORTED,
    permanent_redirect,
)

pytestmark = pytest.mark.django_db

BUCKET = "acme-archive"
KMS_ARN = "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"


@pytest.fixture
def scripted_bucket(archive_on, s3, s3_errors, settings):
    """The tenant's own bucket, reached at the scripted S3 endpoint (the platform's credentials and
    store as the `s3` fixture sets them, only the endpoint of tenant buckets moved)."""
    settings.AWS_S3_ENDPOINT_URL = s3_errors.url
    return use_tenant_bucket(archive_on, BUCKET, s3_kms_key_arn=KMS_ARN)


def write_one(ingest):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    return row


def assert_write_failed(row, reason, words):
    assert row.outcome != Outcome.STORED and row.failure_reason == reason
    assert row.last_error.startswith(REASONS[reason] + ": ")
    assert words in row.last_error
    assert FAR_SIDE_MARK not in row.last_error


def assert_test_failed(cfg, reason, words):
    result = config.archive_connection_test(cfg=cfg)
    assert not result.ok and result.reason == reason
    assert result.message.startswith(REASONS[reason] + ": ") and words in result.message
    assert FAR_SIDE_MARK not in result.message
    cfg.refresh_from_db()
    assert cfg.last_test_ok is False and FAR_SIDE_MARK not in cfg.last_test_message


@pytest.mark.parametrize("step", ["write", "test"])
def test_a_bucket_in_another_region(step, scripted_bucket, s3_errors, ingest):
    s3_errors.answer(permanent_redirect(BUCKET, region="eu-west-1"))
    words = f"The bucket '{BUCKET}' is in another region than the one configured (us-east-1)"
    if step == "write":
        assert_write_failed(write_one(ingest), "wrong_region", words)
    else:
        assert_test_failed(scripted_bucket, "wrong_region", words)
    assert s3_errors.requests and all(method == "PUT" for method, _ in s3_errors.requests)
    assert "amazonaws.com" not in (message_for("uuid-1").last_error if step == "write"
                                   else ArchiveSettings.objects.get(pk=scripted_bucket.pk).last_test_message)


@pytest.mark.parametrize("answer", [KMS_DISABLED, KMS_ACCESS_DENIED], ids=["disabled-key", "key-policy"])
@pytest.mark.parametrize("step", ["write", "test"])
def test_the_kms_key_refuses(step, answer, scripted_bucket, s3_errors, ingest):
    s3_errors.answer(answer)
    words = f"The KMS key refused the operation on bucket '{BUCKET}'. Allow the platform's principal in the key policy."
    if step == "write":
        row = write_one(ingest)
        assert_write_failed(row, "kms_denied", words)
        assert REASONS["access_denied"] not in row.last_error  # a 403 naming KMS is the key, not the bucket
    else:
        assert_test_failed(scripted_bucket, "kms_denied", words)
    assert "111122223333:user" not in (message_for("uuid-1").last_error if step == "write"
                                       else ArchiveSettings.objects.get(pk=scripted_bucket.pk).last_test_message)


@pytest.mark.parametrize("step", ["write", "test"])
def test_an_s3_error_we_do_not_name_is_other_in_our_words(step, scripted_bucket, s3_errors, ingest):
    s3_errors.answer(OPERATION_ABORTED)
    words = (f"S3 failed on bucket '{BUCKET}' (S3's code: OperationAborted): check the bucket's settings, "
             "or ask platform support.")
    if step == "write":
        row = write_one(ingest)
        assert_write_failed(row, "other", words)
    else:
        assert_test_failed(scripted_bucket, "other", words)
    shown = (message_for("uuid-1").last_error if step == "write"
             else ArchiveSettings.objects.get(pk=scripted_bucket.pk).last_test_message)
    assert "conflicting conditional operation" not in shown


def test_a_folder_removed_on_the_sftp_server_during_a_batch_is_a_missing_folder(archive_on, sftp_server):
    """The SFTP session of a batch remembers the folders it made; one removed on the server meanwhile
    is named as the folder that went missing (not "File missing"), and the next file makes it again."""
    cfg = use_sftp(archive_on, sftp_server)
    with destinations.store_batch():
        store = destinations.target_for(cfg)
        destinations.destination_write(target=store, key="day/1.eml", data=b"one", content_type="", sha256="")
        shutil.rmtree(sftp_server.local_path("day"))
        with pytest.raises(destinations.DeliveryError) as failed:
            destinations.destination_write(target=store, key="day/2.eml", data=b"two", content_type="", sha256="")
        destinations.destination_write(target=store, key="day/3.eml", data=b"three", content_type="", sha256="")
    assert failed.value.reason == "no_such_folder" and failed.value.words == REASONS["no_such_folder"]
    assert "disappeared" in failed.value.message and "day" in failed.value.message
    assert sftp_server.files() == ["day/3.eml"]


def test_writing_over_a_locked_file_stores_a_new_version_not_file_is_locked(archive_on, s3):
    """Why `object_locked` is no archive reason: in an Object Lock bucket (always versioned) a PUT over
    a locked key stores a new version beside the locked one, which stays, and the probe's delete
    leaves a delete marker; only deleting a version is refused, and the archive never does."""
    bucket = s3.create_bucket(object_lock=True)
    cfg = use_tenant_bucket(archive_on, bucket, object_lock_mode="COMPLIANCE", object_lock_days=30)
    store = destinations.target_for(cfg)
    for data in (b"first", b"second"):
        destinations.destination_write(target=store, key="k.eml", data=data, content_type="message/rfc822",
                                       sha256=hashlib.sha256(data).hexdigest())
    versions = s3.boto3().list_object_versions(Bucket=bucket, Prefix="archive/k.eml")["Versions"]
    assert len(versions) == 2
    assert all(v["Key"] == "archive/k.eml" for v in versions)
    assert destinations.destination_read(target=store, key="k.eml") == b"second"
    assert config.archive_connection_test(cfg=cfg).ok
