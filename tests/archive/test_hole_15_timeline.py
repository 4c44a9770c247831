"""Issue 14 item 15: the timeline gives one reason per row (not on both buttons), the file's path
for SFTP, and during a retry when the next try is."""

import re

import pytest
from django.urls import reverse

from archive.models import ArchivedMessage, Outcome
from archive.receivers import DOWNLOAD, VIEW
from archive.services.delivery import S3_RETRIES_AFTER_FIRST
from archive.services.reading import ERR_SFTP_UNREADABLE
from mktops.jobs import JobStatus
from mktops.models import Contact
from tests.archive.conftest import email_sent_event, message_for, run_all, sms_sent_event
from tests.archive.test_destinations import use_sftp, use_tenant_bucket

pytestmark = pytest.mark.django_db


def actions_cell(client, uid: str) -> str:
    contact = Contact.objects.get(uid=uid)
    page = client.get(reverse("admin:mktops_contact_change", args=[contact.pk])).content.decode()
    cells = re.findall(r'<td class="event-actions">(.*?)</td>', page, re.S)
    assert len(cells) == 1, cells
    return cells[0]


def test_a_skipped_message_gives_its_reason_once(archive_on, ingest, as_support_a):
    archive_on.archive_email = False
    archive_on.save()
    ingest(email_sent_event(1))
    cell = actions_cell(as_support_a, "user-1")
    assert VIEW in cell and DOWNLOAD in cell
    assert cell.count("archiving of this channel is not enabled") == 2  # the first button's title and text
    assert "()" not in cell


def test_sftp_row_names_the_file_path_on_the_server(archive_on, ingest, sftp_server, as_support_a):
    cfg = use_sftp(archive_on, sftp_server)
    ingest(sms_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.outcome == Outcome.STORED and sftp_server.exists(row.key)
    cell = actions_cell(as_support_a, "user-1")
    assert f"{cfg.sftp_folder}/{row.key}" in cell
    assert ERR_SFTP_UNREADABLE.replace("'", "&#x27;") in cell
    assert cell.count(row.key) == 2  # title and text of one button


def test_still_being_archived_says_when_the_next_try_is(archive_on, ingest, s3, as_support_a):
    use_tenant_bucket(archive_on, "bucket-that-does-not-exist-14")
    ingest(email_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert row.status == JobStatus.RETRYING
    cell = actions_cell(as_support_a, "user-1")
    when = row.first_attempt_at + S3_RETRIES_AFTER_FIRST[0]
    assert f"still being archived: the last attempt failed (bucket missing); the next try is at " \
           f"{when:%Y-%m-%d %H:%M} UTC" in cell
    assert cell.count("next try") == 2


def test_another_tenant_does_not_see_the_contact(archive_on, ingest, as_operator_b):
    ingest(email_sent_event(1))
    contact = Contact.objects.get(uid="user-1")
    assert as_operator_b.get(reverse("admin:mktops_contact_change", args=[contact.pk])).status_code == 404


def test_the_archive_search_gives_the_sftp_path_too(archive_on, ingest, sftp_server, as_support_a,
                                                    django_assert_max_num_queries):
    cfg = use_sftp(archive_on, sftp_server)
    ingest(*[sms_sent_event(i) for i in range(3)])
    run_all()
    rows = list(ArchivedMessage.objects.filter(tenant=archive_on))
    with django_assert_max_num_queries(9):  # 8 for the page: not one settings query more per row
        page = as_support_a.get(reverse("admin:archive_archivedmessage_changelist")).content.decode()
    for row in rows:
        assert f"{cfg.sftp_folder}/{row.key}" in page
