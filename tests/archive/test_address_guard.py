"""The SFTP host goes through the core's address guard (mktops.net): refused when the settings are
saved if it resolves to an address that is not public, refused again at every connect (Test
connection, delivery) without a connection being made, what an internal service answers never
shown; and Test connection is limited per tenant."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.html import escape

from archive.models import ArchiveSettings, Destination
from archive.services import config
from mktops import ratelimit
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for, run_all, settings_of
from tests.archive.test_admin_settings import change_url, form_data
from tests.fixtures.listener import Listener
from tests.mktops.test_net import INTERNAL_SPELLINGS

pytestmark = pytest.mark.django_db

FINGERPRINT = "SHA256:" + "A" * 43


@pytest.fixture
def guarded(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    return settings


def sftp_settings(tenant, host: str, port: int = 22) -> ArchiveSettings:
    cfg = settings_of(tenant)
    for name, value in {"destination": Destination.SFTP, "sftp_host": host, "sftp_port": port,
                        "sftp_username": "archive", "sftp_password": "pw", "sftp_host_key_fingerprint": FINGERPRINT,
                        "sftp_folder": "upload"}.items():
        setattr(cfg, name, value)
    return cfg


def connection_test_url(cfg) -> str:
    return reverse("admin:archive_archivesettings_test", args=[cfg.pk])


# --- at save -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("host", INTERNAL_SPELLINGS)
def test_save_refuses_a_host_that_is_not_public(archive_on, guarded, host):
    with pytest.raises(ValidationError) as err:
        config.archive_settings_save(cfg=sftp_settings(archive_on, host))
    assert err.value.message_dict["sftp_host"] == [config.ERR_SFTP_HOST_PRIVATE]
    assert ArchiveSettings.objects.get(tenant=archive_on).destination == Destination.PLATFORM


def test_save_refuses_a_host_that_does_not_resolve(archive_on, guarded):
    with pytest.raises(ValidationError) as err:
        config.archive_settings_save(cfg=sftp_settings(archive_on, "sftp.no-such-host.invalid"))
    assert err.value.message_dict["sftp_host"] == [config.ERR_SFTP_HOST_UNRESOLVED]


def test_save_takes_a_public_address_and_loopback_when_allowed(archive_on, guarded):
    config.archive_settings_save(cfg=sftp_settings(archive_on, "8.8.8.8"))
    guarded.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    config.archive_settings_save(cfg=sftp_settings(archive_on, "localhost"))


def test_the_settings_page_names_the_field_and_the_rule(archive_on, guarded, as_operator_a):
    cfg = settings_of(archive_on)
    data = form_data(cfg, destination=Destination.SFTP, sftp_host="2130706433", sftp_port=22,
                     sftp_username="archive", sftp_password="pw", sftp_host_key_fingerprint=FINGERPRINT)
    response = as_operator_a.post(change_url(cfg), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["sftp_host"] == [config.ERR_SFTP_HOST_PRIVATE]
    assert ArchiveSettings.objects.get(pk=cfg.pk).destination == Destination.PLATFORM


# --- at connect ----------------------------------------------------------------------------------------
def saved_while_allowed(tenant, settings, port: int) -> ArchiveSettings:
    """Settings saved while loopback was allowed; then the guard is on (as if DNS changed since)."""
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    cfg = config.archive_settings_save(cfg=sftp_settings(tenant, "127.0.0.1", port))
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    return cfg


def test_test_connection_refuses_without_connecting(archive_on, settings, as_operator_a):
    with Listener(b"SSH-2.0-OpenSSH_9.6\r\n") as internal:
        cfg = saved_while_allowed(archive_on, settings, internal.port)
        response = as_operator_a.post(connection_test_url(cfg), follow=True)
        assert escape(config.ERR_SFTP_HOST_PRIVATE) in response.content.decode()
        assert internal.connections() == 0
    cfg.refresh_from_db()
    assert cfg.last_test_ok is False and config.ERR_SFTP_HOST_PRIVATE in cfg.last_test_message


def test_delivery_refuses_without_connecting(archive_on, settings, ingest):
    with Listener(b"SSH-2.0-OpenSSH_9.6\r\n") as internal:
        saved_while_allowed(archive_on, settings, internal.port)
        ingest(email_sent_event(1))
        run_all()
        assert internal.connections() == 0
    row = message_for("uuid-1")
    assert row.status in (JobStatus.RETRYING, JobStatus.FAILED) and row.failure_reason == "address_refused"
    assert row.last_error.startswith("Host not allowed (not a public address)")


def test_test_connection_never_shows_what_an_internal_service_answered(archive_on, settings, as_operator_a):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    with Listener(b"INTERNAL-SECRET: xyz\r\n" * 120) as internal:
        cfg = config.archive_settings_save(cfg=sftp_settings(archive_on, "127.0.0.1", internal.port))
        page = as_operator_a.post(connection_test_url(cfg), follow=True).content.decode()
        assert internal.connections() == 1
    assert "did not answer as an SSH server" in page
    assert "INTERNAL-SECRET" not in page and "xyz" not in page
    cfg.refresh_from_db()
    assert "INTERNAL-SECRET" not in cfg.last_test_message


# --- rate limit -------------------------------------------------------------------------------------------
def test_test_connection_is_limited_per_tenant(archive_on, tenant_b, s3, as_operator_a, as_operator_b, clock):
    cfg = settings_of(archive_on)
    for _ in range(ratelimit.CONNECTION_TESTS):
        assert "Connection works" in as_operator_a.post(connection_test_url(cfg), follow=True).content.decode()
    refused = config.archive_connection_test(cfg=cfg)
    assert not refused.ok and refused.reason == ratelimit.REASON
    assert refused.message == ratelimit.ERR_TOO_MANY.format(what="connection tests", limit=10, window=10, minutes=10)
    assert escape(refused.message) in as_operator_a.post(connection_test_url(cfg), follow=True).content.decode()
    assert AuditLog.objects.filter(tenant=archive_on, action="archive.connection_test").count() == 10
    assert AuditLog.objects.filter(tenant=archive_on, action=ratelimit.AUDIT_REFUSED).count() == 2
    cfg.refresh_from_db()
    assert cfg.last_test_ok is True  # a refused test records no outcome
    # another tenant is not affected
    tenant_b.archive_enabled = True
    tenant_b.save()
    page_b = as_operator_b.post(connection_test_url(settings_of(tenant_b)), follow=True)
    assert "Connection works" in page_b.content.decode()
    # once the window has passed, tests run again
    clock.advance(ratelimit.CONNECTION_TEST_WINDOW)
    assert config.archive_connection_test(cfg=cfg).ok
