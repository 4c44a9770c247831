"""Issue 14 item 17: the settings page shows only the fields of the chosen destination (the select
switches them in Chromium), read-only once locked; in the demo it says the platform store is a
local folder."""

import pytest
from django.urls import reverse

from archive.models import ArchiveSettings, Destination
from archive.services import config
from mktops import clock
from tests.archive.conftest import settings_of
from tests.archive.test_destinations import use_sftp, use_tenant_bucket


def change_url(cfg):
    return reverse("admin:archive_archivesettings_change", args=[cfg.pk])


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_select_shows_only_the_chosen_destinations_fields(archive_on, operator_a, page_for):
    cfg = settings_of(archive_on)
    page = page_for(operator_a)
    page.goto(change_url(cfg))
    visible = {name: page.locator(f"fieldset.archive-dest-{name}").first.is_visible()
               for name in ("platform", "s3", "sftp")}
    assert visible == {"platform": True, "s3": False, "sftp": False}
    assert config.PLATFORM_LOCAL in page.locator("#platform-store").inner_text()
    assert page.locator("#id_destination option[value=platform]").inner_text() == config.PLATFORM_LOCAL_CHOICE
    assert not page.locator("#id_s3_bucket").is_visible() and not page.locator("#id_sftp_host").is_visible()
    assert not page.locator("#id_object_lock_mode").is_visible()  # a local folder has no Object Lock
    page.screenshot(path="/tmp/h2/shot-settings-platform.png", full_page=True)

    page.select_option("#id_destination", Destination.S3)
    assert page.locator("#id_s3_bucket").is_visible()
    assert not page.locator("#id_sftp_host").is_visible()
    assert not page.locator("#platform-store").is_visible()
    assert page.locator("#id_object_lock_mode").is_visible()  # Object Lock is for buckets
    page.screenshot(path="/tmp/h2/shot-settings-s3-choosing.png", full_page=True)

    page.select_option("#id_destination", Destination.SFTP)
    assert page.locator("#id_sftp_host").is_visible() and page.locator("#id_path_template_email").is_visible()
    assert not page.locator("#id_s3_bucket").is_visible()
    assert not page.locator("#id_object_lock_mode").is_visible()  # SFTP has no Object Lock
    page.screenshot(path="/tmp/h2/shot-settings-sftp-choosing.png", full_page=True)


@pytest.mark.django_db
def test_once_locked_only_the_locked_destination_is_sent_and_read_only(archive_on, s3, as_operator_a):
    cfg = use_tenant_bucket(archive_on, s3.create_bucket())
    ArchiveSettings.objects.filter(pk=cfg.pk).update(locked_at=clock.now())
    page = as_operator_a.get(change_url(cfg)).content.decode()
    assert "own S3 bucket</h2>" in page
    assert "SFTP server</h2>" not in page and "store</h2>" not in page
    assert 'name="s3_bucket"' not in page and 'name="sftp_host"' not in page  # read-only, not inputs
    assert cfg.s3_bucket in page


@pytest.mark.django_db
def test_a_locked_sftp_destination_shows_no_bucket_fields(archive_on, sftp_server, as_support_a, as_operator_b):
    cfg = use_sftp(archive_on, sftp_server)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(locked_at=clock.now())
    page = as_support_a.get(change_url(cfg)).content.decode()
    assert "SFTP server</h2>" in page and "own S3 bucket</h2>" not in page
    assert "id_object_lock_mode" not in page and "sftp-Password" not in page
    assert as_operator_b.get(change_url(cfg)).status_code == 404


@pytest.mark.django_db
def test_the_platform_bucket_is_named_when_there_is_one(archive_on, s3, as_operator_a):
    page = as_operator_a.get(change_url(settings_of(archive_on))).content.decode()
    assert config.PLATFORM_BUCKET.format(bucket=s3.bucket).replace("'", "&#x27;") in page
    assert config.PLATFORM_LOCAL not in page and "in this demo" not in page
