"""The S3 server fixture and the storage module, against moto's real HTTP server."""

import pytest

from mktops.storage import s3 as storage


def test_put_get_and_multipart(s3):
    target = storage.S3Target.platform()
    digest = storage.put_object(target, "a/b.txt", b"hello")
    assert storage.get_object(target, "a/b.txt") == b"hello"
    assert len(digest) == 64
    with storage.MultipartUpload(target, "big.bin", part_size=5 * 1024 * 1024) as up:
        for _ in range(3):
            up.write(b"x" * (4 * 1024 * 1024))
    assert len(s3.read("big.bin")) == 12 * 1024 * 1024
    assert up.hexdigest == __import__("hashlib").sha256(b"x" * (12 * 1024 * 1024)).hexdigest()


def test_failed_multipart_is_aborted(s3):
    target = storage.S3Target.platform()
    with pytest.raises(RuntimeError), storage.MultipartUpload(target, "half.bin", part_size=5 * 1024 * 1024) as up:
        up.write(b"y" * (6 * 1024 * 1024))
        raise RuntimeError("worker died")
    assert "half.bin" not in s3.list_keys()
    assert s3.boto3().list_multipart_uploads(Bucket=s3.bucket).get("Uploads", []) == []


def test_errors_are_explained(s3):
    with pytest.raises(storage.S3Error) as err:
        storage.put_object(storage.S3Target.platform(bucket="no-such-bucket-here"), "k", b"v")
    assert err.value.reason == storage.S3Error.NO_SUCH_BUCKET
    with pytest.raises(storage.S3Error) as err:
        storage.get_object(storage.S3Target(bucket="b", endpoint_url="http://127.0.0.1:9"), "k")
    assert err.value.reason == storage.S3Error.UNREACHABLE


def test_gpg_home_round_trip(gpg_home):
    encrypted = gpg_home.encrypt(b"secret")
    assert gpg_home.decrypt(encrypted) == b"secret"


@pytest.mark.parametrize(("code", "message", "reason"), [
    # what AWS answers when the key policy refuses the platform's principal; moto accepts
    # any KMS key, so this one answer is built here, in the shape botocore gives it
    ("KMS.AccessDeniedException", "User is not authorized to perform kms:GenerateDataKey",
     storage.S3Error.KMS_DENIED),
    ("AccessDenied", "Access Denied", storage.S3Error.ACCESS_DENIED),
])
def test_aws_refusals_moto_cannot_produce_are_explained(code, message, reason):
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": code, "Message": message},
                         "ResponseMetadata": {"HTTPStatusCode": 403}}, "PutObject")
    explained = storage.explain(error, storage.S3Target(bucket="tenant-bucket"))
    assert explained.reason == reason
    assert "tenant-bucket" in str(explained)
