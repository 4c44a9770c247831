"""The destinations archive and exports write to: s3.py (boto3, django-storages), sftp.py (paramiko)."""

from pathlib import Path


def archive_storage(*, bucket: str, local_dir: Path | str, region: str = "", endpoint_url: str = "",
                    access_key_id: str = "", secret_access_key: str = "") -> dict:
    """The STORAGES["archive"] entry: django-storages' S3Storage on the platform bucket when one is
    set, else a FileSystemStorage on the local folder that stands in for it (the demo's default).
    Plain data, so settings.py and tests build it the same way from the same values."""
    if bucket:
        return {"BACKEND": "mktops.storage.s3.PlatformS3Storage", "OPTIONS": {
            "bucket_name": bucket, "region_name": region or None, "endpoint_url": endpoint_url or None,
            "access_key": access_key_id or None, "secret_key": secret_access_key or None,
            # anything written through S3Storage.save() is encrypted too, as the store's own PUTs are
            "object_parameters": {"ServerSideEncryption": "AES256"},
            "file_overwrite": True, "default_acl": None,
        }}
    # allow_overwrite: a retried write replaces the file under the same name (no "_x7Ab" suffix)
    return {"BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(local_dir), "allow_overwrite": True}}
