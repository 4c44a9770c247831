"""Issue 13 item 16: every upload into a tenant's bucket sends the canned ACL bucket-owner-full-control, so a
bucket whose objects belong to their writer still gives the tenant its files. Checked where it matters: the
header as moto received it (moto's own request recorder), and the object's ACL read back."""

import json
import urllib.parse

import pytest
import requests
from moto.moto_api import recorder

from exports.services import connections, paths
from mktops.storage import s3 as storage


@pytest.fixture
def received(s3, tmp_path, monkeypatch):
    """The requests moto receives while the test runs: moto's recorder, writing to a file of this test
    (its default is a file in the working directory)."""
    monkeypatch.setattr(recorder, "_location", str(tmp_path / "moto_recording"))
    requests.post(f"{s3.endpoint_url}/moto-api/recorder/reset-recording", timeout=10)
    requests.post(f"{s3.endpoint_url}/moto-api/recorder/start-recording", timeout=10)

    def read() -> list[dict]:
        requests.post(f"{s3.endpoint_url}/moto-api/recorder/stop-recording", timeout=10)
        text = requests.get(f"{s3.endpoint_url}/moto-api/recorder/download-recording", timeout=10).text
        return [json.loads(line) for line in text.splitlines() if line.strip()]

    yield read
    requests.post(f"{s3.endpoint_url}/moto-api/recorder/stop-recording", timeout=10)


def writes(entries: list[dict]) -> dict[str, str]:
    """Each object-creating request (PUT of an object, start of a multipart upload): key → its x-amz-acl."""
    seen = {}
    for entry in entries:
        url = urllib.parse.urlsplit(entry["url"])
        key = urllib.parse.unquote(url.path.split("/", 2)[2]) if url.path.count("/") >= 2 else ""
        starts_upload = entry["method"] == "POST" and "uploads" in urllib.parse.parse_qs(url.query,
                                                                                         keep_blank_values=True)
        plain_put = entry["method"] == "PUT" and key and not url.query
        if starts_upload or plain_put:
            headers = {k.lower(): v for k, v in entry["headers"].items()}
            seen[key] = headers.get("x-amz-acl", "")
    return seen


def test_every_upload_sends_bucket_owner_full_control(make_connection, ingest, due, s3, bucket, operator_a,
                                                       received):
    connection = make_connection(name="My S3 Export")
    probe = connections.connection_test(connection=connection, by=operator_a)
    assert probe.ok, probe.message
    ingest(0, 3)
    (small,) = due()
    # a stream of several parts (the export's files go through the same class): the ACL is sent when
    # the multipart upload starts
    target = paths.connection_target(connection)
    with storage.MultipartUpload(target, "My S3 Export/big.bin", part_size=5 * 1024 * 1024,
                                 acl=storage.BUCKET_OWNER_FULL_CONTROL) as upload:
        for _ in range(3):
            upload.write(b"x" * (4 * 1024 * 1024))
    assert upload.upload_id and len(upload.parts) == 3

    acl = writes(received())
    for key in (probe.detail, small.object_key, small.object_key + ".manifest.json", "My S3 Export/big.bin"):
        assert acl.get(key) == storage.BUCKET_OWNER_FULL_CONTROL, (key, acl)

    # and the object's ACL as S3 keeps it: the bucket owner has full control
    grants = s3.boto3().get_object_acl(Bucket=bucket, Key=small.object_key)["Grants"]
    assert [g["Permission"] for g in grants] == ["FULL_CONTROL"]


def test_the_bucket_policy_allows_the_acl(make_connection):
    statement = paths.connection_bucket_policy(make_connection())["Statement"][0]
    assert "s3:PutObjectAcl" in statement["Action"]
