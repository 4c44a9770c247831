"""Issue 14 item 12: retention presets by compliance rule (SEC 17a-4 6 years, GLBA 7, FINRA 2210 3,
MiFID II 5), the rule chosen recorded, the Object Lock period defaulting to it."""

from datetime import date, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from archive.models import ArchiveSettings, Outcome, RetentionRule
from archive.services import config, retention
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of
from tests.archive.test_admin_settings import form_data
from tests.archive.test_destinations import use_tenant_bucket

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("rule", "years", "days"), [
    (RetentionRule.SEC_17A_4, 6, 2192), (RetentionRule.GLBA, 7, 2557), (RetentionRule.FINRA_2210, 3, 1096),
    (RetentionRule.MIFID_II, 5, 1827),
])
def test_each_rule_has_its_period_never_short_of_its_years(rule, years, days):
    assert retention.RULE_YEARS[rule] == years
    assert retention.rule_days(rule) == days
    # as long as the longest span of that many calendar years (leap days included)
    assert days == max((date(y + years, m, 1) - date(y, m, 1)).days for y in range(2000, 2400) for m in (1, 3))


def test_the_object_lock_period_defaults_to_the_rule_and_the_file_is_retained_that_long(archive_on, ingest, s3):
    bucket = s3.create_bucket(object_lock=True)
    cfg = use_tenant_bucket(archive_on, bucket, object_lock_mode="COMPLIANCE", object_lock_days=0,
                            retention_rule=RetentionRule.SEC_17A_4)
    cfg.refresh_from_db()
    assert (cfg.retention_rule, cfg.object_lock_days) == (RetentionRule.SEC_17A_4, 2192)
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.outcome == Outcome.STORED
    head = s3.boto3().head_object(Bucket=bucket, Key=f"archive/{row.key}")
    assert head["ObjectLockMode"] == "COMPLIANCE"
    assert head["ObjectLockRetainUntilDate"] >= row.stored_at + timedelta(days=2191)


def test_a_lock_period_shorter_than_the_rule_is_refused(archive_on):
    cfg = settings_of(archive_on)
    cfg.retention_rule, cfg.object_lock_mode, cfg.object_lock_days = RetentionRule.GLBA, "GOVERNANCE", 365
    with pytest.raises(ValidationError) as refused:
        config.archive_settings_save(cfg=cfg)
    assert refused.value.message_dict["object_lock_days"] == [retention.ERR_LOCK_SHORTER.format(
        days=365, rule=RetentionRule.GLBA.label, minimum=2557)]
    assert ArchiveSettings.objects.get(pk=cfg.pk).retention_rule == ""


def test_the_operator_chooses_the_rule_on_the_settings_page(archive_on, as_operator_a):
    cfg = settings_of(archive_on)
    url = reverse("admin:archive_archivesettings_change", args=[cfg.pk])
    page = as_operator_a.get(url).content.decode()
    for choice in RetentionRule:
        if choice.value:
            assert choice.label in page
    response = as_operator_a.post(url, form_data(cfg, retention_rule=RetentionRule.MIFID_II,
                                                 object_lock_mode="GOVERNANCE", object_lock_days=0))
    assert response.status_code == 302, response.context["adminform"].form.errors
    cfg.refresh_from_db()
    assert (cfg.retention_rule, cfg.object_lock_days) == (RetentionRule.MIFID_II, 1827)
    audit = AuditLog.objects.filter(action="archive.settings_change", tenant=archive_on).latest("at")
    assert audit.detail["changes"]["retention_rule"] == ["", RetentionRule.MIFID_II]
    assert audit.detail["changes"]["object_lock_days"] == [0, 1827]
    assert retention.MSG_MINIMUM.format(rule=RetentionRule.MIFID_II.label, days=1827) in \
        as_operator_a.get(url).content.decode()


def test_support_cannot_choose_and_another_tenant_gets_404(archive_on, as_support_a, as_operator_b):
    cfg = settings_of(archive_on)
    url = reverse("admin:archive_archivesettings_change", args=[cfg.pk])
    response = as_support_a.post(url, form_data(cfg, retention_rule=RetentionRule.GLBA))
    assert response.status_code == 403
    assert ArchiveSettings.objects.get(pk=cfg.pk).retention_rule == ""
    assert as_operator_b.get(url).status_code == 404
