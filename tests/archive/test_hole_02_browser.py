"""Issue 14 item 2 in Chromium: the operator reaches the confirmation step from the settings page,
is told it is final, cannot confirm without ticking the box, and confirms; the page then says locked."""

import pytest

from archive.models import ArchiveSettings
from tests.archive.conftest import email_sent_event, settings_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SHOTS = "/tmp/h1-shots"


def test_operator_confirms_the_destination_in_the_browser(archive_on, operator_a, ingest, s3, page_for):
    import os

    os.makedirs(SHOTS, exist_ok=True)
    ingest(email_sent_event(1), confirm=False)
    cfg = settings_of(archive_on)
    page = page_for(operator_a)
    page.goto(f"/admin/archive/archivesettings/{cfg.pk}/change/")
    status = page.locator("#lock-status").inner_text()
    assert "Not confirmed" in status and "1 message(s) waiting for a destination" in status
    page.screenshot(path=f"{SHOTS}/settings-not-confirmed.png", full_page=True)
    page.click("#confirm-destination-link")
    page.locator("#final-warning").wait_for()
    assert "This is final." in page.locator("#final-warning").inner_text()
    page.screenshot(path=f"{SHOTS}/confirm-step.png", full_page=True)
    page.click("#confirm-destination")  # without the tick box: refused, nothing locked
    page.locator("#confirm-error").wait_for()
    assert ArchiveSettings.objects.get(pk=cfg.pk).locked_at is None
    page.screenshot(path=f"{SHOTS}/confirm-refused.png", full_page=True)
    page.check("#acknowledge")
    page.click("#confirm-destination")
    page.locator("#lock-status").wait_for()
    assert "Locked since" in page.locator("#lock-status").inner_text()
    page.screenshot(path=f"{SHOTS}/settings-locked.png", full_page=True)
    assert ArchiveSettings.objects.get(pk=cfg.pk).locked_at is not None
