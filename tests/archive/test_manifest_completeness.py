"""Tamper evidence (daily manifests chained by hash, Verify) and the completeness report with re-drive."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from archive import tasks
from archive.models import ArchivedMessage, Manifest, Outcome, SkipReason
from archive.services import manifest, repair
from mktops import clock as mk_clock
from tests.archive.conftest import deliver_pending, email_sent_event, message_for, run_all, settings_of, sms_sent_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_days(archive_on, ingest, s3, clock):
    ingest(email_sent_event(1), sms_sent_event(2))
    run_all()
    clock.advance(timedelta(days=1))
    ingest(email_sent_event(3))
    run_all()
    clock.advance(timedelta(days=1))
    return archive_on


def test_daily_manifests_are_chained_and_stored_beside_the_files(two_days, s3):
    today = mk_clock.now().date()
    first = manifest.manifest_write(tenant=two_days, day=today - timedelta(days=2))
    second = manifest.manifest_write(tenant=two_days, day=today - timedelta(days=1))
    assert (first.file_count, second.file_count) == (2, 1)
    assert first.previous_sha256 == "" and second.previous_sha256 == first.sha256
    doc = json.loads(s3.read(second.key))
    assert doc["previous_manifest_sha256"] == first.sha256
    assert doc["files"] == [{"key": message_for("uuid-3").key, "sha256": message_for("uuid-3").sha256,
                             "destination": "platform"}]
    assert manifest.manifest_write(tenant=two_days, day=second.day).pk == second.pk  # idempotent


def test_daily_task_writes_yesterdays_manifest_and_the_retention_rule(two_days, s3):
    result = tasks.daily()
    assert result["tenant-a"] == {"retention": True, "manifest": True}
    assert Manifest.objects.get().day == mk_clock.now().date() - timedelta(days=1)


def test_verify_reports_a_tampered_file(two_days, s3, as_operator_a, as_support_a, as_operator_b):
    item = manifest.manifest_write(tenant=two_days, day=mk_clock.now().date() - timedelta(days=2))
    url = reverse("admin:archive_archivesettings_manifests", args=[settings_of(two_days).pk])
    response = as_operator_a.post(url, {"manifest": item.pk}, follow=True)
    assert "all match" in response.content.decode()
    s3.boto3().put_object(Bucket=s3.bucket, Key=message_for("uuid-1").key, Body=b"forged")
    ok, text = manifest.manifest_verify(manifest=item)
    assert not ok and f"{message_for('uuid-1').key}: SHA-256 differs from the manifest" in text
    assert as_support_a.post(url, {"manifest": item.pk}).status_code == 403
    assert as_operator_b.post(url, {"manifest": item.pk}).status_code == 404
    Manifest.objects.filter(pk=item.pk).update(sha256="0" * 64)
    ok, text = manifest.manifest_verify(manifest=Manifest.objects.get(pk=item.pk))
    assert "SHA-256 differs from the one recorded" in text


def test_completeness_report_and_redrive(archive_on, ingest, api, s3, as_csm, as_operator_a, as_operator_b):
    archive_on.archive_sms = False
    archive_on.save()
    ingest(email_sent_event(1), sms_sent_event(2))
    api("/events", {"events": [email_sent_event(3)]})  # the receiver missed this one
    deliver_pending()
    ArchivedMessage.objects.filter(event_uuid="uuid-1").update(outcome=Outcome.HELD, status="failed")
    day = message_for("uuid-1").event_time.date()
    report = repair.completeness_report(tenant=archive_on, day_from=day, day_to=day)
    by_channel = {r["channel"]: r for r in report}
    assert by_channel["email"]["sent"] == 2 and by_channel["email"]["held"] == 1
    assert by_channel["email"]["missing"] == 1
    assert by_channel["sms"]["skipped"] == {SkipReason.CHANNEL_OFF: 1}
    url = reverse("admin:archive_archivesettings_completeness", args=[settings_of(archive_on).pk])
    page = as_operator_a.get(url + f"?from={day}&to={day}").content.decode()
    assert "completeness" in page and "redrive" not in page
    assert as_operator_a.post(url + f"?from={day}&to={day}").status_code == 403
    assert as_operator_b.get(url).status_code == 404
    assert as_csm.post(url + f"?from={day}&to={day}").status_code == 302
    run_all()
    report = repair.completeness_report(tenant=archive_on, day_from=day, day_to=day)
    email_row = next(r for r in report if r["channel"] == "email")
    assert (email_row["stored"], email_row["held"], email_row["missing"]) == (2, 0, 0)
