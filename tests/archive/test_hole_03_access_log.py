"""Issue 14 item 3: every path that returns message content writes an access-log row: the
message page, its body frame (…/message/body/) and the download."""

import pytest
from django.urls import reverse

from archive.models import ArchiveAccessLog
from archive.services import reading
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(archive_on, ingest, s3):
    ingest(email_sent_event(1))
    run_all()
    return message_for("uuid-1")


@pytest.mark.parametrize(("name", "action"), [
    ("archive_archivedmessage_message", reading.ACTION_VIEW),
    ("archive_archivedmessage_body", reading.ACTION_VIEW_BODY),
    ("archive_archivedmessage_download", reading.ACTION_DOWNLOAD),
])
def test_each_path_that_returns_content_writes_one_row(stored, as_support_a, support_a, name, action):
    response = as_support_a.get(reverse(f"admin:{name}", args=[stored.pk]))
    assert response.status_code == 200
    # the page shows headers and frames the body; the frame and the download carry the HTML
    assert (b"Hello 1" if action == reading.ACTION_VIEW else b"HTML body 1") in response.content
    rows = AuditLog.objects.filter(user=support_a)
    assert list(rows.values_list("action", flat=True)) == [action]
    row = rows.get()
    assert row.object_id == str(stored.pk) and row.detail["message_id"] == stored.message_id


def test_the_body_frame_serves_the_html_and_is_listed_in_the_access_log(stored, as_support_a, as_operator_a):
    body = as_support_a.get(reverse("admin:archive_archivedmessage_body", args=[stored.pk]))
    assert b"HTML body 1" in body.content
    log = as_operator_a.get(reverse("admin:archive_archiveaccesslog_changelist")).content.decode()
    assert reading.ACTION_VIEW_BODY in log
    assert ArchiveAccessLog.objects.filter(action=reading.ACTION_VIEW_BODY).count() == 1


def test_another_tenant_gets_404_and_no_row(stored, tenant_b, as_operator_b):
    assert as_operator_b.get(reverse("admin:archive_archivedmessage_body", args=[stored.pk])).status_code == 404
    assert not AuditLog.objects.filter(action__startswith="archive.view").exists()
