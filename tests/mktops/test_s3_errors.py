"""S3 errors in our words: nothing S3 sent is echoed to a tenant (issue 12, item 17)."""

import pytest
from botocore.exceptions import ClientError

from mktops.storage import s3 as storage

FAR_SIDE = "INTERNAL-SECRET: db01.internal:5432 says hello"


def _answer(code: str, status: int, message: str = FAR_SIDE) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message},
                        "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject")


@pytest.mark.parametrize(("code", "status", "reason"), [
    ("AccessDenied", 403, storage.S3Error.ACCESS_DENIED),
    ("NoSuchBucket", 404, storage.S3Error.NO_SUCH_BUCKET),
    ("NoSuchKey", 404, storage.S3Error.NO_SUCH_KEY),
    ("PermanentRedirect", 301, storage.S3Error.WRONG_REGION),
    ("ObjectLocked", 400, storage.S3Error.OBJECT_LOCKED),
    ("InternalError", 500, storage.S3Error.UNREACHABLE),
    ("InvalidArgument", 400, storage.S3Error.INVALID),
    ("Teapot", 418, storage.S3Error.OTHER),
])
def test_the_far_sides_message_is_never_shown(code, status, reason):
    error = storage.explain(_answer(code, status), storage.S3Target(bucket="tenant-bucket"))
    assert error.reason == reason
    assert "INTERNAL-SECRET" not in error.message and "db01" not in error.message
    assert "tenant-bucket" in error.message


def test_a_code_that_is_not_a_code_is_dropped():
    error = storage.explain(_answer("<script>alert(1)</script>", 400), storage.S3Target(bucket="b"))
    assert "script" not in error.message and error.reason == storage.S3Error.INVALID


def test_numbers_are_not_reasons():
    error = storage.explain(_answer("InternalError", 503), storage.S3Target(bucket="b"))
    assert "503" not in error.message and "it will be retried" in error.message


def test_an_unexpected_exception_is_not_echoed():
    error = storage.explain(RuntimeError(FAR_SIDE), storage.S3Target(bucket="b"))
    assert error.reason == storage.S3Error.OTHER and "INTERNAL-SECRET" not in error.message


def test_the_real_servers_words_stay_out(s3):
    """moto answers NoSuchBucket with "The specified bucket does not exist"; we say it our way."""
    with pytest.raises(storage.S3Error) as err:
        storage.get_object(storage.S3Target.platform(bucket="no-such-bucket-words"), "k")
    assert err.value.reason == storage.S3Error.NO_SUCH_BUCKET
    assert "specified" not in err.value.message
    assert err.value.message == "The bucket 'no-such-bucket-words' does not exist."


def test_an_absent_object_is_none(s3):
    target = storage.S3Target.platform()
    assert storage.head_object(target, "not/there") is None
    storage.put_object(target, "there", b"x", metadata={"sha256": "abc"})
    assert storage.head_object(target, "there")["Metadata"] == {"sha256": "abc"}


def test_the_abort_incomplete_rule_keeps_the_other_rules(s3):
    target = storage.S3Target.platform()
    storage.ensure_expiration_rule(target, "t1/", 30, rule_id="tenant-rule")
    storage.ensure_abort_incomplete_rule(target, "exports/", days=1)
    storage.ensure_abort_incomplete_rule(target, "exports/", days=1)  # idempotent
    rules = {r["ID"]: r for r in s3.boto3().get_bucket_lifecycle_configuration(Bucket=s3.bucket)["Rules"]}
    assert set(rules) == {"tenant-rule", "mktops-abort-incomplete-exports/"}
    assert rules["mktops-abort-incomplete-exports/"]["AbortIncompleteMultipartUpload"] == {"DaysAfterInitiation": 1}
    assert rules["mktops-abort-incomplete-exports/"]["Filter"] == {"Prefix": "exports/"}
