"""Issue 14 item 13: the settings page's channel table follows the tenant's entitlements, and the
page says whether the archive is on."""

import pytest
from django.urls import reverse

from archive.services import config
from tests.archive.conftest import settings_of

pytestmark = pytest.mark.django_db


def channel_rows(page: str) -> str:
    start = page.index("id='channels-table'")
    return page[start:page.index("</table>", start)]


def test_sms_off_is_shown_as_not_archived(archive_on, as_operator_a):
    archive_on.archive_sms = False
    archive_on.save()
    cfg = settings_of(archive_on)
    page = as_operator_a.get(reverse("admin:archive_archivesettings_change", args=[cfg.pk])).content.decode()
    table = channel_rows(page)
    assert f"<td>SMS</td><td>{config.CHANNEL_NOT_ENABLED}</td>" in table
    assert f"<td>Email</td><td>{config.CHANNEL_ARCHIVED}</td>" in table
    assert config.ARCHIVE_ON in page


def test_archive_off_says_so_and_archives_no_channel(tenant_a, as_support_a):
    cfg = settings_of(tenant_a)
    page = as_support_a.get(reverse("admin:archive_archivesettings_change", args=[cfg.pk])).content.decode()
    table = channel_rows(page)
    assert config.CHANNEL_ARCHIVED + "<" not in table.replace(config.CHANNEL_ARCHIVE_OFF, "")
    assert table.count(config.CHANNEL_ARCHIVE_OFF) == 3
    assert config.ARCHIVE_OFF.replace("'", "&#x27;") in page


def test_another_tenant_gets_404(archive_on, as_operator_b):
    cfg = settings_of(archive_on)
    assert as_operator_b.get(reverse("admin:archive_archivesettings_change", args=[cfg.pk])).status_code == 404
