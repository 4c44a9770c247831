"""Issue 14 item 4: WORM cannot be turned off after the lock. The Object Lock mode and retention
are locked fields (a CSM changes them, audited with old and new values); Test connection writes
its probe with the configured lock and says plainly when the bucket has no Object Lock; a write
that fails for that reason says so (not "File is locked")."""

import pytest
from django.urls import reverse

from archive.models import ArchiveSettings, LockMode, Outcome
from archive.services import config
from archive.services.destinations import ERR_NO_OBJECT_LOCK, REASONS
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of
from tests.archive.test_admin_settings import change_url, form_data
from tests.archive.test_destinations import use_tenant_bucket

pytestmark = pytest.mark.django_db

LOCKED = {"object_lock_mode": LockMode.COMPLIANCE, "object_lock_days": 30}


def probe_url(cfg):
    return reverse("admin:archive_archivesettings_test", args=[cfg.pk])


@pytest.fixture
def locked_bucket(archive_on, s3, as_operator_a):
    bucket = s3.create_bucket(object_lock=True)
    cfg = use_tenant_bucket(archive_on, bucket, **LOCKED)
    assert as_operator_a.post(reverse("admin:archive_archivesettings_confirm", args=[cfg.pk]),
                              {"acknowledge": "final"}).status_code == 302
    cfg.refresh_from_db()
    return cfg


def test_an_operator_cannot_switch_object_lock_off_after_the_lock(locked_bucket, as_operator_a):
    cfg = locked_bucket
    response = as_operator_a.post(change_url(cfg), form_data(cfg, object_lock_mode="", object_lock_days=0),
                                  follow=True)
    page = response.content.decode()
    assert "changed successfully" not in page and "ask your CSM to change them" in page
    cfg.refresh_from_db()
    assert (cfg.object_lock_mode, cfg.object_lock_days) == (LockMode.COMPLIANCE, 30)
    with pytest.raises(config.ValidationError) as err:
        cfg.object_lock_mode = ""
        config.archive_settings_save(cfg=cfg)
    assert "object_lock_mode" in err.value.message_dict


def test_a_csm_changes_the_lock_settings_audited_with_old_and_new_values(locked_bucket, as_csm, csm):
    cfg = locked_bucket
    response = as_csm.post(change_url(cfg), form_data(cfg, object_lock_days=60))
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert ArchiveSettings.objects.get(pk=cfg.pk).object_lock_days == 60
    audit = AuditLog.objects.filter(action="archive.settings_change", user=csm).get()
    assert audit.detail["changes"] == {"object_lock_days": [30, 60]}


def test_test_connection_writes_its_probe_with_the_configured_lock(locked_bucket, s3, as_operator_a):
    page = as_operator_a.post(probe_url(locked_bucket), follow=True).content.decode()
    assert "Connection works" in page and "with Object Lock (compliance" in page
    client = s3.boto3()
    versions = client.list_object_versions(Bucket=locked_bucket.s3_bucket)["Versions"]
    (probe,) = [v for v in versions if ".mktops-connection-test-" in v["Key"]]
    head = client.head_object(Bucket=locked_bucket.s3_bucket, Key=probe["Key"], VersionId=probe["VersionId"])
    assert head["ObjectLockMode"] == "COMPLIANCE" and "ObjectLockRetainUntilDate" in head


def test_test_connection_says_plainly_when_the_bucket_has_no_object_lock(archive_on, s3, as_operator_a):
    bucket = s3.create_bucket()  # without Object Lock
    cfg = use_tenant_bucket(archive_on, bucket, **LOCKED)
    result = config.archive_connection_test(cfg=cfg)
    assert not result.ok and result.reason == "no_object_lock"
    assert result.message == f"{REASONS['no_object_lock']}: {ERR_NO_OBJECT_LOCK.format(bucket=bucket)}"
    page = as_operator_a.post(probe_url(cfg), follow=True).content.decode()
    assert "has no Object Lock" in page and "Connection works" not in page
    assert s3.list_keys(bucket) == []


def test_a_write_to_a_bucket_without_object_lock_names_that_cause(archive_on, ingest, s3):
    bucket = s3.create_bucket()
    use_tenant_bucket(archive_on, bucket, **LOCKED)
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.outcome != Outcome.STORED and row.failure_reason == "no_object_lock"
    assert row.last_error.startswith(REASONS["no_object_lock"]) and "File is locked" not in row.last_error
    assert "has no Object Lock" in row.last_error


def test_support_and_another_tenant_cannot_change_the_lock(locked_bucket, tenant_b, as_support_a, as_operator_b):
    data = form_data(locked_bucket, object_lock_mode="", object_lock_days=0)
    assert as_support_a.post(change_url(locked_bucket), data).status_code == 403
    assert as_operator_b.post(change_url(locked_bucket), data).status_code == 404
    assert settings_of(locked_bucket.tenant).object_lock_mode == LockMode.COMPLIANCE
