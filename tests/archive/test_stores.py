"""The archive's stores (issue 12, items 17 and 18): target_for picks a small store class per
destination; the platform's own store reads and writes through django-storages'
storages["archive"] (S3Storage on the platform bucket, FileSystemStorage on the local folder)."""

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage, storages

from archive.models import Destination
from archive.services import destinations
from archive.services.destinations import DeliveryError, destination_probe, destination_read, destination_write
from mktops.storage import archive_storage
from mktops.storage import s3 as storage
from tests.archive.conftest import settings_of

pytestmark = pytest.mark.django_db
BODY = b"Subject: hello\r\n\r\nthe message"
SHA = hashlib.sha256(BODY).hexdigest()


def _write(store, key="acme/email/m1.eml"):
    destination_write(target=store, key=key, data=BODY, content_type="message/rfc822", sha256=SHA)
    return key


def test_each_destination_has_its_store(tenant_a, s3, sftp_server):
    cfg = settings_of(tenant_a)
    assert isinstance(destinations.target_for(cfg), destinations.PlatformBucketStore)
    cfg.destination, cfg.s3_bucket, cfg.s3_region, cfg.s3_folder = Destination.S3, "tenant-b", "us-east-1", "f"
    store = destinations.target_for(cfg)
    assert isinstance(store, destinations.TenantBucketStore) and store.full_key("k") == "f/k"
    cfg.destination, cfg.sftp_host = Destination.SFTP, "127.0.0.1"
    store = destinations.target_for(cfg)
    assert isinstance(store, destinations.SftpStore) and not store.readable
    with pytest.raises(DeliveryError):
        destination_read(target=store, key="k")


def test_the_platform_bucket_is_written_and_read_through_django_storages(tenant_a, s3):
    archive = storages["archive"]
    assert isinstance(archive, storage.PlatformS3Storage) and archive.bucket_name == s3.bucket
    # the checksum settings of every client of ours (DESIGN.md), on django-storages' client too
    assert archive.client_config.request_checksum_calculation == "when_required"
    assert archive.client_config.response_checksum_validation == "when_required"
    key = _write(destinations.target_for(settings_of(tenant_a)))
    head = s3.boto3().head_object(Bucket=s3.bucket, Key=key)
    assert head["ServerSideEncryption"] == "AES256" and head["Metadata"] == {"sha256": SHA}
    with archive.open(key, "rb") as f:  # django-storages reads back what the store wrote
        assert f.read() == BODY
    assert destination_read(target=destinations.target_for(settings_of(tenant_a)), key=key) == BODY
    with pytest.raises(DeliveryError) as err:
        destination_read(target=destinations.target_for(settings_of(tenant_a)), key="not/there.eml")
    assert err.value.reason == "no_such_key"


def test_the_platform_bucket_keeps_object_lock(tenant_a, s3, settings):
    locked = s3.create_bucket(object_lock=True)
    settings.STORAGES = {**settings.STORAGES, "archive": archive_storage(
        bucket=locked, local_dir="", region=s3.region, endpoint_url=s3.endpoint_url,
        access_key_id=settings.AWS_ACCESS_KEY_ID, secret_access_key=settings.AWS_SECRET_ACCESS_KEY)}
    cfg = settings_of(tenant_a)
    cfg.object_lock_mode, cfg.object_lock_days = "GOVERNANCE", 7
    key = _write(destinations.target_for(cfg))
    _write(destinations.target_for(cfg))  # a retried attempt keeps the locked original
    client = s3.boto3()
    assert client.head_object(Bucket=locked, Key=key)["ObjectLockMode"] == "GOVERNANCE"
    assert len(client.list_object_versions(Bucket=locked, Prefix=key)["Versions"]) == 1


def test_the_local_folder_is_a_file_system_storage_encrypted_at_rest(tenant_a, settings, tmp_path):
    settings.STORAGES = {**settings.STORAGES, "archive": archive_storage(bucket="", local_dir=tmp_path)}
    assert isinstance(storages["archive"], FileSystemStorage)
    store = destinations.target_for(settings_of(tenant_a))
    assert isinstance(store, destinations.PlatformFolderStore)
    key = _write(store)
    _write(store)  # a retry replaces the file under the same name
    assert BODY not in (tmp_path / key).read_bytes()
    assert sorted(p.name for p in (tmp_path / key).parent.iterdir()) == ["m1.eml"]  # no temporary left
    assert destination_read(target=store, key=key) == BODY
    assert "local archive folder" in destination_probe(target=store)
    for bad in ("../outside.eml", "/etc/passwd"):
        with pytest.raises(DeliveryError) as err:
            _write(store, bad)
        assert err.value.reason == "invalid_request"
    with pytest.raises(DeliveryError) as err:
        destination_read(target=store, key="acme/none.eml")
    assert err.value.reason == "no_such_key"


@pytest.mark.parametrize(("bucket", "backend"), [("", "django.core.files.storage.FileSystemStorage"),
                                                 ("mktops-platform", "mktops.storage.s3.PlatformS3Storage")])
def test_settings_build_the_archive_storage_from_the_environment(bucket, backend):
    code = "from django.conf import settings; print(settings.STORAGES['archive']['BACKEND'])"
    env = {**os.environ, "MKTOPS_ARCHIVE_BUCKET": bucket, "DJANGO_SETTINGS_MODULE": "mktops.settings"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60,
                         cwd=Path(__file__).resolve().parents[2], check=True)
    assert out.stdout.strip() == backend
