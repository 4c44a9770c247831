"""View sent message, Download, the access log, the archive search and re-delivery, per persona."""

import email
import email.policy
from datetime import timedelta

import pytest
from django.urls import reverse

from archive.models import ArchiveAccessLog, ArchivedMessage, Destination, Outcome
from archive.receivers import DOWNLOAD, VIEW
from archive.services.reading import ERR_SFTP_UNREADABLE
from mktops.jobs import JobStatus
from mktops.models import AuditLog, Contact
from tests.archive.conftest import email_sent_event, message_for, run_all, sms_sent_event

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(archive_on, ingest, s3):
    event = email_sent_event(1)
    event["message"]["html"] = ('<p>HTML body 1</p><a href="https://acme.example/buy">Buy</a>'
                                '<script>alert(1)</script>')
    ingest(event, sms_sent_event(2))
    run_all()
    return message_for("uuid-1")


def url(name, message):
    return reverse(f"admin:archive_archivedmessage_{name}", args=[message.pk])


def test_support_views_email_in_a_sandboxed_frame_with_headers_and_it_is_logged(stored, as_support_a, support_a):
    response = as_support_a.get(url("message", stored))
    page = response.content.decode()
    assert response.status_code == 200
    assert 'sandbox=""' in page and "for illustration" in page
    assert "Hello 1" in page and "X-Campaign-Id" in page
    body = as_support_a.get(url("body", stored))
    assert body.status_code == 200
    assert "sandbox" in body["Content-Security-Policy"] and "default-src 'none'" in body["Content-Security-Policy"]
    html = body.content.decode()
    assert "HTML body 1" in html
    assert "<script" not in html and 'href="https://acme.example/buy"' not in html
    log = AuditLog.objects.get(action="archive.view")
    assert (log.user, log.tenant_id, log.object_id) == (support_a, stored.tenant_id, str(stored.pk))


def test_support_downloads_the_eml_and_it_is_logged(stored, as_support_a):
    response = as_support_a.get(url("download", stored))
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith('attachment; filename="') and ".eml" in response[
        "Content-Disposition"]
    msg = email.message_from_bytes(response.content, policy=email.policy.default)
    assert msg["Subject"] == "Hello 1"
    assert AuditLog.objects.filter(action="archive.download").count() == 1


def test_sms_is_shown_as_fields(stored, as_support_a):
    page = as_support_a.get(url("message", message_for("uuid-2"))).content.decode()
    assert "Your code is 2" in page and "recipient" in page and "sms-cmp" in page


def test_other_tenant_gets_404_on_every_message_view(stored, as_operator_b):
    for name in ("message", "body", "download", "change"):
        assert as_operator_b.get(url(name, stored)).status_code == 404
    assert as_operator_b.post(url("redeliver", stored)).status_code == 404
    assert not AuditLog.objects.filter(action__startswith="archive.view").exists()


def test_access_log_visible_to_operators_and_csm_not_support(stored, as_support_a, as_operator_a, as_csm,
                                                             as_operator_b):
    as_support_a.get(url("message", stored))
    as_support_a.get(url("download", stored))
    changelist = reverse("admin:archive_archiveaccesslog_changelist")
    page = as_operator_a.get(changelist).content.decode()
    assert "sam-support-a" in page and "archive.download" in page and stored.message_id in page
    assert "sam-support-a" in as_csm.get(changelist).content.decode()
    assert as_support_a.get(changelist).status_code == 403
    assert "sam-support-a" not in as_operator_b.get(changelist).content.decode()
    entry = ArchiveAccessLog.objects.filter(action="archive.view").first()
    assert as_operator_b.get(reverse("admin:archive_archiveaccesslog_change", args=[entry.pk])).status_code == 404


def test_timeline_has_view_and_download_for_archived_events(stored, as_support_a):
    contact = Contact.objects.get(uid="user-1")
    page = as_support_a.get(reverse("admin:mktops_contact_change", args=[contact.pk])).content.decode()
    assert VIEW in page and url("message", stored) in page and url("download", stored) in page


def test_timeline_explains_why_sftp_messages_cannot_be_read(stored, as_support_a):
    ArchivedMessage.objects.filter(pk=stored.pk).update(destination=Destination.SFTP)
    contact = Contact.objects.get(uid="user-1")
    page = as_support_a.get(reverse("admin:mktops_contact_change", args=[contact.pk])).content.decode()
    assert url("message", stored) not in page
    assert ERR_SFTP_UNREADABLE.replace("'", "&#x27;") in page and DOWNLOAD in page
    response = as_support_a.get(url("download", stored))
    assert response.status_code == 409 and ERR_SFTP_UNREADABLE in response.content.decode()


def test_skipped_message_shows_its_reason_on_the_timeline(archive_on, ingest, as_support_a):
    archive_on.archive_email = False
    archive_on.save()
    ingest(email_sent_event(1))
    contact = Contact.objects.get(uid="user-1")
    page = as_support_a.get(reverse("admin:mktops_contact_change", args=[contact.pk])).content.decode()
    assert "archiving of this channel is not enabled" in page


def test_archive_search_by_uid_campaign_and_date(stored, as_support_a):
    base = reverse("admin:archive_archivedmessage_changelist")
    page = as_support_a.get(base + "?contact_uid=user-2").content.decode()
    assert "user-2" in page and "Hello" not in page and ">user-1<" not in page
    assert stored.message_id in as_support_a.get(base + "?campaign_id=cmp-1").content.decode()
    day = stored.event_time.date()
    hit = as_support_a.get(base + f"?event_time__date__gte={day}&event_time__date__lte={day}").content.decode()
    assert stored.message_id in hit
    later = (day + timedelta(days=1)).isoformat()
    assert stored.message_id not in as_support_a.get(base + f"?event_time__date__gte={later}").content.decode()
    # empty boxes are ignored, a bad date is an error message, never a 500
    assert as_support_a.get(base + "?contact_uid=&campaign_id=cmp-1").status_code == 302
    response = as_support_a.get(base + "?event_time__date__gte=yesterday", follow=True)
    assert response.status_code == 200 and "is not a date (YYYY-MM-DD)" in response.content.decode()


def test_files_stay_findable_after_the_event_is_deleted(stored, as_support_a):
    stored.event.delete()
    message = ArchivedMessage.objects.get(pk=stored.pk)
    assert message.event_id is None
    base = reverse("admin:archive_archivedmessage_changelist")
    assert message.message_id in as_support_a.get(base + "?contact_uid=user-1").content.decode()
    assert as_support_a.get(url("download", message)).status_code == 200


def _hold(message):
    ArchivedMessage.objects.filter(pk=message.pk).update(outcome=Outcome.HELD, status=JobStatus.FAILED)


def test_redeliver_one_is_csm_only(stored, as_csm, as_operator_a, as_support_a):
    _hold(stored)
    assert as_operator_a.post(url("redeliver", stored)).status_code == 403
    assert as_support_a.post(url("redeliver", stored)).status_code == 403
    assert as_csm.post(url("redeliver", stored)).status_code == 302
    row = ArchivedMessage.objects.get(pk=stored.pk)
    assert (row.status, row.attempts) == (JobStatus.PENDING, 0)


def test_support_cannot_change_messages(stored, as_support_a):
    assert as_support_a.post(url("change", stored), {}).status_code == 403
    assert as_support_a.post(reverse("admin:archive_archivedmessage_delete", args=[stored.pk]),
                             {"post": "yes"}).status_code == 403


# --- the views share one helper: 404 before 403, 405 for a GET, each re-delivery in the history
def _history(message) -> list[str]:
    from django.contrib.admin.models import LogEntry

    return [e.get_change_message() for e in LogEntry.objects.filter(object_id=str(message.pk))
            if e.content_type.model_class() is ArchivedMessage]


def test_other_tenants_operator_gets_404_on_every_view_with_get_and_post(stored, as_operator_b):
    for name in ("message", "body", "download", "redeliver"):
        for method in ("get", "post"):
            assert getattr(as_operator_b, method)(url(name, stored)).status_code == 404, (name, method)


def test_a_get_to_redeliver_is_405_and_requeues_nothing(stored, as_csm, as_operator_a):
    _hold(stored)
    assert as_operator_a.get(url("redeliver", stored)).status_code == 403  # the level comes first
    assert as_csm.get(url("redeliver", stored)).status_code == 405
    assert ArchivedMessage.objects.get(pk=stored.pk).status == JobStatus.FAILED
    assert _history(stored) == []


def test_redelivery_is_written_to_the_messages_history(stored, as_csm):
    _hold(stored)
    assert as_csm.post(url("redeliver", stored)).status_code == 302
    assert _history(stored) == ["Re-delivery to the tenant's destination requested."]
    _hold(stored)
    as_csm.post(reverse("admin:archive_archivedmessage_changelist"),
                {"action": "redeliver_selected", "_selected_action": [stored.pk]})
    assert _history(stored) == ["Re-delivery to the tenant's destination requested."] * 2
