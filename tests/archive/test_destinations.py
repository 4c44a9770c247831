"""The tenant's own S3 bucket (folder, custom file path, SSE-KMS refused by moto as it should be,
object lock) and the tenant's SFTP server (real sshd: password, key, wrong password, changed host key)."""

import hashlib
from datetime import timedelta

import pytest
from botocore.exceptions import ClientError
from django.urls import reverse

from archive.models import Destination, Outcome
from archive.services import config, delivery
from mktops.jobs import JobStatus
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of, sms_sent_event

pytestmark = pytest.mark.django_db


def use_tenant_bucket(tenant, bucket, **extra):
    cfg = settings_of(tenant)
    for name, value in {"destination": Destination.S3, "s3_bucket": bucket, "s3_bucket_arn": f"arn:aws:s3:::{bucket}",
                        "s3_region": "us-east-1", "s3_folder": "archive", **extra}.items():
        setattr(cfg, name, value)
    config.archive_settings_save(cfg=cfg)
    return cfg


def use_sftp(tenant, server, user="password", **extra):
    target = server.target(user)
    cfg = settings_of(tenant)
    values = {"destination": Destination.SFTP, "sftp_host": target.host, "sftp_port": target.port,
              "sftp_username": target.username, "sftp_password": target.password,
              "sftp_private_key": target.private_key, "sftp_host_key_fingerprint": target.host_key_fingerprint,
              "sftp_folder": target.folder, **extra}
    for name, value in values.items():
        setattr(cfg, name, value)
    config.archive_settings_save(cfg=cfg)
    return cfg


def test_tenant_bucket_with_folder_and_custom_path(archive_on, ingest, s3):
    bucket = s3.create_bucket()
    use_tenant_bucket(archive_on, bucket,
                      path_template_sms="{{channel}}/{{cid}}/{{date}}/{{alert_id}}-{{transaction_id}}-{{id}}.json")
    ingest(sms_sent_event(1, event_attributes={"campaign_id": "c9", "alert_id": "a7", "transaction_id": "t3"}))
    run_all()
    row = message_for("uuid-1")
    assert row.outcome == Outcome.STORED and row.destination == Destination.S3
    assert row.key == f"sms/c9/{row.event_time:%Y-%m-%d}/a7-t3-{row.message_id}.json"
    assert s3.list_keys(bucket) == [f"archive/{row.key}"]
    assert hashlib.sha256(s3.read(f"archive/{row.key}", bucket)).hexdigest() == row.sha256


def test_object_lock_refuses_delete_and_overwrite_of_a_locked_file(archive_on, ingest, s3):
    bucket = s3.create_bucket(object_lock=True)
    use_tenant_bucket(archive_on, bucket, object_lock_mode="COMPLIANCE", object_lock_days=30)
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    key = f"archive/{row.key}"
    client = s3.boto3()
    head = client.head_object(Bucket=bucket, Key=key)
    assert head["ObjectLockMode"] == "COMPLIANCE"
    version = head["VersionId"]
    with pytest.raises(ClientError) as err:
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)
    assert err.value.response["Error"]["Code"] == "AccessDenied"
    # an overwrite only adds a version: the locked original stays, byte for byte
    client.put_object(Bucket=bucket, Key=key, Body=b"tampered")
    original = client.get_object(Bucket=bucket, Key=key, VersionId=version)["Body"].read()
    assert hashlib.sha256(original).hexdigest() == row.sha256
    with pytest.raises(ClientError):
        client.delete_object(Bucket=bucket, Key=key, VersionId=version)


def test_sftp_password_user_stores_the_file(archive_on, ingest, sftp_server):
    use_sftp(archive_on, sftp_server)
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.outcome == Outcome.STORED and row.destination == Destination.SFTP
    assert hashlib.sha256(sftp_server.read(row.key)).hexdigest() == row.sha256
    assert sftp_server.files() == [row.key]


def test_sftp_key_user_and_test_connection(archive_on, sftp_server, as_operator_a):
    cfg = use_sftp(archive_on, sftp_server, user="key", sftp_password="")
    response = as_operator_a.post(reverse("admin:archive_archivesettings_test", args=[cfg.pk]), follow=True)
    assert "Connection works" in response.content.decode()
    assert sftp_server.files() == []


def test_sftp_wrong_password_retries_3_times_5s_apart_then_internal_store(archive_on, ingest, sftp_server,
                                                                          clock, as_operator_a):
    cfg = use_sftp(archive_on, sftp_server, sftp_password="wrong-password")
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    for n in range(1, 4):
        delivery.archived_messages_deliver(pks=[row.pk])
        row.refresh_from_db()
        assert (row.status, row.attempts, row.failure_reason) == (JobStatus.RETRYING, n, "auth_failed")
        # 5 seconds after the failed attempt ended (PAM makes a wrong password slow to refuse)
        gap = row.next_attempt_at - row.last_attempt_at
        assert timedelta(seconds=5) <= gap < timedelta(seconds=35)
        assert delivery.archived_messages_deliver(pks=[row.pk]) == []  # not due yet
        clock.advance(timedelta(seconds=5))
    delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    assert (row.status, row.outcome, row.attempts) == (JobStatus.FAILED, Outcome.HELD, 4)
    assert row.last_error.startswith("Wrong SFTP credentials")
    response = as_operator_a.post(reverse("admin:archive_archivesettings_test", args=[cfg.pk]), follow=True)
    assert "Wrong SFTP credentials" in response.content.decode()


def test_sftp_changed_host_key_is_refused(archive_on, ingest, sftp_server, as_operator_a):
    cfg = use_sftp(archive_on, sftp_server)
    sftp_server.restart_with_new_host_key()
    ingest(email_sent_event(1))
    delivery.archived_messages_deliver(pks=[message_for("uuid-1").pk])
    row = message_for("uuid-1")
    assert row.failure_reason == "host_key_mismatch" and row.last_error.startswith("SFTP server's host key changed")
    assert sftp_server.files() == []
    response = as_operator_a.post(reverse("admin:archive_archivesettings_test", args=[cfg.pk]), follow=True)
    assert "host key changed" in response.content.decode()


def test_sftp_task_waits_the_5_seconds_itself(archive_on, ingest, sftp_server, monkeypatch):
    """The django-q2 task keeps short retries in hand; here sleep is instant and the server heals."""
    from archive import tasks

    use_sftp(archive_on, sftp_server)
    sftp_server.stop()
    ingest(email_sent_event(1))
    slept = []

    def fake_sleep(seconds):
        slept.append(round(seconds))

        from mktops import clock

        clock.advance(timedelta(seconds=seconds))
        sftp_server.start()

    monkeypatch.setattr(tasks, "sleep", fake_sleep)
    tasks.deliver([message_for("uuid-1").pk])
    row = message_for("uuid-1")
    assert slept == [5] and row.outcome == Outcome.STORED and row.attempts == 2
