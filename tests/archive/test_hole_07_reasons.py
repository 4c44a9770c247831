"""Issue 14 item 7: failure reasons name the real cause, each provoked against moto or sshd.

Covered here: a key from a template with a line break (bad_key, not "File missing"), content gone,
a missing or unwritable SFTP folder, a missing host key fingerprint, S3 access denied, settings
incomplete. Elsewhere: no_object_lock (test_hole_04), render_failed (test_hole_06), auth_failed and
host_key_mismatch (test_destinations), unreachable and no_such_bucket (test_faults), address_refused
(test_address_guard), bucket_not_allowed (test_bucket_ownership), no_such_key and invalid_request
(test_stores)."""

import pytest

from archive.models import ArchiveSettings, Outcome
from archive.services import config, delivery
from archive.services.destinations import REASONS
from mktops.models import Event
from tests.archive.conftest import email_sent_event, message_for
from tests.archive.test_destinations import use_sftp, use_tenant_bucket

pytestmark = pytest.mark.django_db


def attempt_one(ingest):
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    return row


def assert_reason(row, reason):
    assert row.outcome != Outcome.STORED and row.failure_reason == reason
    assert row.last_error.startswith(REASONS[reason] + ": ")


def test_a_key_with_a_line_break_is_a_bad_path_not_a_missing_file(archive_on, ingest, sftp_server):
    cfg = use_sftp(archive_on, sftp_server)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(path_template_email="{{db_name}}\r\n/{{id}}.eml")
    row = attempt_one(ingest)
    assert_reason(row, "bad_key")
    assert "line breaks" in row.last_error and "File missing" not in row.last_error
    assert sftp_server.files() == []


def test_content_gone_says_so(archive_on, ingest, sftp_server):
    use_sftp(archive_on, sftp_server)
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    Event.objects.filter(pk=row.event_id).delete()
    delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    assert_reason(row, "content_gone")
    assert "Destination not configured" not in row.last_error


def test_a_missing_sftp_folder(archive_on, ingest, sftp_server):
    use_sftp(archive_on, sftp_server, sftp_folder=f"{sftp_server.folder}/not-there")
    assert_reason(attempt_one(ingest), "no_such_folder")


def test_an_sftp_folder_the_user_may_not_write(archive_on, ingest, sftp_server):
    folder = sftp_server.mkdir("read-only", mode=0o555)
    use_sftp(archive_on, sftp_server, sftp_folder=folder)
    assert_reason(attempt_one(ingest), "permission_denied")


def test_no_host_key_fingerprint(archive_on, ingest, sftp_server):
    cfg = use_sftp(archive_on, sftp_server)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(sftp_host_key_fingerprint="")
    assert_reason(attempt_one(ingest), "host_key_missing")


def test_s3_access_denied(archive_on, s3, settings, s3_checking_credentials):
    cfg = use_tenant_bucket(archive_on, s3.create_bucket())
    settings.AWS_S3_ENDPOINT_URL = s3_checking_credentials  # a server that knows none of our keys
    result = config.archive_connection_test(cfg=cfg)
    assert not result.ok and result.reason == "access_denied"
    assert result.message.startswith(REASONS["access_denied"])


def test_incomplete_settings_are_not_configured(archive_on):
    cfg = ArchiveSettings.objects.create(tenant=archive_on, destination="s3", s3_bucket="acme-archive")
    result = config.archive_connection_test(cfg=cfg)
    assert not result.ok and result.reason == "not_configured"
    assert "region: required" in result.message
