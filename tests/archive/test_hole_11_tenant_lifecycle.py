"""Issue 14 item 11: for a tenant's own bucket the file retention is read from the bucket's
lifecycle configuration (moto), compared with the compliance rule's minimum, and never written;
for SFTP the page says retention is the server's."""

import pytest
from django.urls import reverse

from archive.models import ArchiveSettings, RetentionRule
from archive.services import config, retention
from tests.archive.test_destinations import use_sftp, use_tenant_bucket

pytestmark = pytest.mark.django_db


def put_rules(s3, bucket, *rules):
    s3.boto3().put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": list(rules)})


def expire(rule_id, prefix, days):
    return {"ID": rule_id, "Status": "Enabled", "Filter": {"Prefix": prefix}, "Expiration": {"Days": days}}


def rules_of(s3, bucket):
    return s3.boto3().get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]


def platform_has_no_lifecycle(s3) -> bool:
    try:
        s3.boto3().get_bucket_lifecycle_configuration(Bucket=s3.bucket)
    except s3.boto3().exceptions.ClientError as exc:
        return exc.response["Error"]["Code"] == "NoSuchLifecycleConfiguration"
    return False


def test_a_rule_shorter_than_the_compliance_minimum_is_shown_with_a_warning(archive_on, s3):
    bucket = s3.create_bucket()
    put_rules(s3, bucket, expire("keep-a-year", "archive/", 365), expire("logs", "logs/", 7))
    before = rules_of(s3, bucket)
    cfg = use_tenant_bucket(archive_on, bucket, retention_rule=RetentionRule.SEC_17A_4)
    ok, message = config.archive_lifecycle_apply(tenant=archive_on)
    assert not ok
    assert retention.MSG_RULE.format(rule_id="keep-a-year", bucket=bucket, where="archive/",
                                     after="365 days") in message
    assert retention.WARN_SHORTER.format(what="rule 'keep-a-year' (365 days)", rule=RetentionRule.SEC_17A_4.label,
                                         minimum=2192) in message
    assert "logs" not in message  # a rule for another prefix does not cover the archive
    # read, never written: the tenant's rules are as they were, the platform bucket has none
    assert rules_of(s3, bucket) == before
    assert platform_has_no_lifecycle(s3)
    cfg.refresh_from_db()
    assert (cfg.lifecycle_days_confirmed, cfg.lifecycle_message) == (365, message)


def test_a_whole_bucket_rule_long_enough_covers_the_prefix(archive_on, s3):
    bucket = s3.create_bucket()
    put_rules(s3, bucket, expire("ten-years", "", 3650))
    use_tenant_bucket(archive_on, bucket, retention_rule=RetentionRule.GLBA)
    ok, message = config.archive_lifecycle_apply(tenant=archive_on)
    assert ok and retention.WARNING_MARK not in message
    assert "expires files under archive/ after 3650 days" in message


def test_no_rule_means_files_are_kept(archive_on, s3):
    bucket = s3.create_bucket()
    use_tenant_bucket(archive_on, bucket)
    ok, message = config.archive_lifecycle_apply(tenant=archive_on)
    assert ok and message == retention.MSG_NO_RULE.format(bucket=bucket, prefix="archive/")
    assert platform_has_no_lifecycle(s3)


def test_sftp_retention_is_the_servers(archive_on, sftp_server, s3):
    use_sftp(archive_on, sftp_server)
    ok, message = config.archive_lifecycle_apply(tenant=archive_on)
    assert ok and message == retention.MSG_SFTP.format(rule="your compliance rule")
    assert sftp_server.files() == [] and platform_has_no_lifecycle(s3)


def test_the_settings_page_button_reads_and_shows_the_rules(archive_on, s3, as_operator_a, as_support_a,
                                                            as_operator_b):
    bucket = s3.create_bucket()
    put_rules(s3, bucket, expire("short", "archive/", 30))
    cfg = use_tenant_bucket(archive_on, bucket, retention_rule=RetentionRule.FINRA_2210)
    page_url = reverse("admin:archive_archivesettings_change", args=[cfg.pk])
    assert retention.BUTTON["s3"].replace("'", "&#x27;") in as_operator_a.get(page_url).content.decode()
    button = reverse("admin:archive_archivesettings_retention", args=[cfg.pk])
    assert as_support_a.post(button).status_code == 403
    assert as_operator_b.post(button).status_code == 404
    assert ArchiveSettings.objects.get(pk=cfg.pk).lifecycle_checked_at is None
    assert as_operator_a.post(button).status_code == 302
    page = as_operator_a.get(page_url).content.decode()
    assert "id='retention-status' class='errornote'" in page and "30 days" in page
    assert rules_of(s3, bucket) == [expire("short", "archive/", 30)]


def test_a_bucket_that_cannot_be_read_is_said_so(archive_on, s3):
    use_tenant_bucket(archive_on, "bucket-that-does-not-exist-11")
    ok, message = config.archive_lifecycle_apply(tenant=archive_on)
    assert not ok
    assert message.startswith("Could not read the lifecycle rules of bucket 'bucket-that-does-not-exist-11': ")
    assert "does not exist" in message and platform_has_no_lifecycle(s3)
