"""Support opens a contact in Chromium, views a sent email, downloads the .eml; it parses with the
same subject and body, and the access log has both rows."""

import email
import email.policy

import pytest

from mktops.models import AuditLog, Contact
from tests.archive.conftest import email_sent_event, run_all

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_support_views_and_downloads_a_sent_email(archive_on, api, s3, support_a, page_for, tmp_path):
    event = email_sent_event(5)
    event["message"]["html"] = '<h1>Spring sale</h1><p>HTML body 5</p><a href="https://acme.example/x">Shop</a>'
    assert api("/events", {"events": [event]}).status_code == 200
    run_all()
    contact = Contact.objects.get(uid="user-5")

    page = page_for(support_a)
    page.goto(f"/admin/mktops/contact/{contact.pk}/change/")
    page.get_by_role("link", name="View sent message").click()
    page.wait_for_selector("#email-body")
    assert page.locator("#email-body").get_attribute("sandbox") == ""
    assert "for illustration" in page.locator("#links-note").inner_text()
    assert "Hello 5" in page.locator("#email-headers").inner_text()
    frame = page.frame_locator("#email-body")
    assert frame.locator("h1").inner_text() == "Spring sale"
    assert frame.locator("a").get_attribute("href") is None  # the link goes nowhere

    page.go_back()
    with page.expect_download() as info:
        page.get_by_role("link", name="Download").click()
    path = tmp_path / info.value.suggested_filename
    info.value.save_as(path)
    assert path.suffix == ".eml"
    msg = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
    assert msg["Subject"] == "Hello 5"
    assert msg.get_body(("plain",)).get_content().strip() == "Plain body 5"
    assert "HTML body 5" in msg.get_body(("html",)).get_content()

    actions = set(AuditLog.objects.filter(user=support_a).values_list("action", flat=True))
    # the page, its frame (the email's HTML) and the download: each wrote its row
    assert actions == {"archive.view", "archive.view_body", "archive.download"}
