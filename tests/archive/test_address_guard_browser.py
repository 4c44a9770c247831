"""An operator in Chromium gives an internal address as the SFTP host: the settings page refuses it
beside the field, saying the rule, and keeps the destination as it was."""

import pytest

from archive.models import ArchiveSettings, Destination
from archive.services import config
from tests.archive.conftest import settings_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]



def test_operator_is_told_the_sftp_host_is_not_public(archive_on, operator_a, page_for, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    cfg = settings_of(archive_on)
    page = page_for(operator_a)
    page.goto(f"/admin/archive/archivesettings/{cfg.pk}/change/")
    page.select_option("#id_destination", Destination.SFTP)
    page.fill("#id_sftp_host", "2130706433")
    page.fill("#id_sftp_port", "22")
    page.fill("#id_sftp_username", "archive")
    page.fill("#id_sftp_password", "a-password")
    page.fill("#id_sftp_host_key_fingerprint", "SHA256:" + "A" * 43)
    page.click("input[name=_continue]")
    error = page.locator(".field-sftp_host .errorlist")
    error.wait_for()
    assert error.inner_text().strip() == config.ERR_SFTP_HOST_PRIVATE
    assert "127.0.0.1" not in page.content()
    error.scroll_into_view_if_needed()
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM
