"""Issue 14 item 5: View and Download compare the stored file with the row's SHA-256; a file
changed after it was stored is shown with a clear integrity warning, and the mismatch is logged."""

import pytest
from django.urls import reverse

from archive.services import reading
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def tampered(archive_on, ingest, s3):
    ingest(email_sent_event(1), email_sent_event(2))
    run_all()
    row = message_for("uuid-1")
    original = s3.read(row.key)
    # someone with access to the bucket rewrites the file
    s3.boto3().put_object(Bucket=s3.bucket, Key=row.key, Body=original.replace(b"HTML body 1", b"HTML body X"))
    return row


def test_view_shows_the_content_with_an_integrity_warning_and_logs_it(tampered, as_support_a, support_a):
    page = as_support_a.get(reverse("admin:archive_archivedmessage_message", args=[tampered.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert 'id="integrity-warning"' in text and "does not match the SHA-256" in text and tampered.sha256 in text
    assert 'id="email-body"' in text  # the content is still shown
    mismatch = AuditLog.objects.get(action=reading.ACTION_INTEGRITY)
    assert mismatch.user == support_a and mismatch.detail["expected"] == tampered.sha256
    assert mismatch.detail["found"] != tampered.sha256 and mismatch.detail["read_by"] == reading.ACTION_VIEW
    view = AuditLog.objects.get(action=reading.ACTION_VIEW)
    assert view.detail["integrity"] == "mismatch"


def test_download_says_so_in_its_name_and_a_header(tampered, as_support_a):
    response = as_support_a.get(reverse("admin:archive_archivedmessage_download", args=[tampered.pk]))
    assert response.status_code == 200 and b"HTML body X" in response.content
    assert response["X-Archive-Integrity"] == "mismatch"
    assert 'filename="INTEGRITY-MISMATCH-' in response["Content-Disposition"]
    assert AuditLog.objects.get(action=reading.ACTION_INTEGRITY).detail["read_by"] == reading.ACTION_DOWNLOAD


def test_an_intact_file_has_no_warning(tampered, as_support_a):
    intact = message_for("uuid-2")
    page = as_support_a.get(reverse("admin:archive_archivedmessage_message", args=[intact.pk])).content.decode()
    assert "integrity-warning" not in page
    download = as_support_a.get(reverse("admin:archive_archivedmessage_download", args=[intact.pk]))
    assert "X-Archive-Integrity" not in download and "INTEGRITY" not in download["Content-Disposition"]
    assert AuditLog.objects.get(action=reading.ACTION_VIEW).detail["integrity"] == "ok"
    assert not AuditLog.objects.filter(action=reading.ACTION_INTEGRITY).exists()
