"""Issue 14 item 16: the message page links back to the contact and to the archive search; SMS and
push show the body first; remote images that are not loaded are said to be blocked."""

import re

import pytest
from django.urls import reverse

from archive.services.reading import BLOCKED_IMAGES
from mktops.models import Contact
from tests.archive.conftest import email_sent_event, message_for, push_sent_event, run_all, sms_sent_event

pytestmark = pytest.mark.django_db


def message_page(client, row) -> str:
    response = client.get(reverse("admin:archive_archivedmessage_message", args=[row.pk]))
    assert response.status_code == 200, response.content
    return response.content.decode()


def test_email_page_links_back_and_says_remote_images_are_blocked(archive_on, ingest, s3, as_support_a):
    event = email_sent_event(1)
    event["message"]["html"] = ('<p>Sale</p><img src="https://tracker.example/open.gif">'
                                "<img src='data:image/gif;base64,R0lGODlhAQABAAAAACw='>"
                                '<div style="background:url(https://cdn.example/bg.png)">x</div>')
    ingest(event)
    run_all()
    row = message_for("uuid-1")
    page = message_page(as_support_a, row)
    contact = Contact.objects.get(uid="user-1")
    assert f'href="{reverse("admin:mktops_contact_change", args=[contact.pk])}"' in page
    search = reverse("admin:archive_archivedmessage_changelist")
    assert f'href="{search}?contact_uid=user-1&amp;tenant__id__exact={archive_on.pk}"' in page
    assert BLOCKED_IMAGES.format(count=2).replace("'", "&#x27;") in page
    # the search link works and lists the message
    listing = as_support_a.get(f"{search}?contact_uid=user-1&tenant__id__exact={archive_on.pk}")
    assert listing.status_code == 200 and row.message_id in listing.content.decode()


def test_email_without_remote_images_says_nothing_about_them(archive_on, ingest, s3, as_support_a):
    ingest(email_sent_event(1))
    run_all()
    assert "images-note" not in message_page(as_support_a, message_for("uuid-1"))


@pytest.mark.parametrize("make", [sms_sent_event, push_sent_event])
def test_sms_and_push_show_the_body_first(archive_on, ingest, s3, as_support_a, make):
    ingest(make(1))
    run_all()
    page = message_page(as_support_a, message_for("uuid-1"))
    rows = re.findall(r"<tr(?: id=\"message-body\")?><th>(.*?)</th>", page.split('id="message-fields"')[1])
    assert rows[0] == "Message", rows
    assert "id=\"message-body\"" in page
    assert page.index("Your code is 1" if make is sms_sent_event else "Push 1") < page.index("message_id")


def test_another_tenant_gets_404(archive_on, ingest, s3, as_operator_b):
    ingest(sms_sent_event(1))
    run_all()
    row = message_for("uuid-1")
    assert as_operator_b.get(reverse("admin:archive_archivedmessage_message", args=[row.pk])).status_code == 404
