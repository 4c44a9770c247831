"""Issue 14 item 14: the .eml holds what was sent. No text/plain part is made up from the HTML
when the sender gave HTML only, and the attachments left out are listed on the message page."""

import email
import email.policy

import pytest
from django.urls import reverse

from tests.archive.conftest import email_sent_event, message_for, run_all

pytestmark = pytest.mark.django_db


def html_only(i, **message):
    event = email_sent_event(i)
    event["message"].pop("text")
    event["message"].update(message)
    return event


def test_html_only_email_has_no_invented_text_part(archive_on, ingest, s3):
    ingest(html_only(1))
    run_all()
    msg = email.message_from_bytes(s3.read(message_for("uuid-1").key), policy=email.policy.default)
    assert msg.get_content_type() == "text/html"
    assert [part.get_content_type() for part in msg.walk()] == ["text/html"]
    assert msg.get_body(("plain",)) is None
    assert "<p>HTML body 1</p>" in msg.get_body(("html",)).get_content()


def test_text_only_and_both_stay_as_sent(archive_on, ingest, s3):
    text_only = email_sent_event(2)
    text_only["message"].pop("html")
    ingest(text_only, email_sent_event(3))
    run_all()
    plain = email.message_from_bytes(s3.read(message_for("uuid-2").key), policy=email.policy.default)
    assert [p.get_content_type() for p in plain.walk()] == ["text/plain"]
    both = email.message_from_bytes(s3.read(message_for("uuid-3").key), policy=email.policy.default)
    assert [p.get_content_type() for p in both.walk()] == ["multipart/alternative", "text/plain", "text/html"]


def test_stripped_attachments_are_listed_on_the_message_page(archive_on, ingest, s3, as_support_a):
    ingest(html_only(4, attachments=[{"name": "invoice.pdf", "size": 1234}, {"name": "terms.docx", "size": 99}]))
    run_all()
    row = message_for("uuid-4")
    page = as_support_a.get(reverse("admin:archive_archivedmessage_message", args=[row.pk])).content.decode()
    assert 'id="stripped-attachments"' in page
    assert "invoice.pdf (1234 bytes)" in page and "terms.docx (99 bytes)" in page
