"""Issue 14 item 5 in Chromium: support opens a message whose file was changed in the bucket and
sees the integrity warning above the content."""

import pytest

from tests.archive.conftest import email_sent_event, message_for, run_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_support_sees_the_integrity_warning(archive_on, support_a, ingest, s3, page_for):
    import os

    os.makedirs("/tmp/h1-shots", exist_ok=True)
    event = email_sent_event(1)
    event["message"]["attachments"] = [{"name": "invoice.pdf", "size": 1234}]
    ingest(event)
    run_all()
    row = message_for("uuid-1")
    s3.boto3().put_object(Bucket=s3.bucket, Key=row.key, Body=s3.read(row.key).replace(b"HTML body 1", b"Altered"))
    page = page_for(support_a)
    page.goto(f"/admin/archive/archivedmessage/{row.pk}/message/")
    warning = page.locator("#integrity-warning")
    warning.wait_for()
    assert "does not match the SHA-256" in warning.inner_text()
    assert "invoice.pdf (1234 bytes)" in page.locator("#stripped-attachments").inner_text()
    assert "Altered" in page.frame_locator("#email-body").locator("body").inner_text()
    page.screenshot(path="/tmp/h1-shots/message-integrity-warning.png", full_page=True)
    page.locator("#email-body").screenshot(path="/tmp/h1-shots/message-frame.png")
