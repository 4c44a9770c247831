"""Issue 14 item 9: a message no longer keeps a broken key forever. A re-drive recomputes the key
from the current, valid template when the old key never produced a file; a stored file keeps its key."""

from datetime import timedelta

import pytest
from django.urls import reverse

from archive.models import ArchivedMessage, ArchiveSettings, Outcome
from archive.services import delivery
from tests.archive.conftest import deliver_pending, email_sent_event, message_for
from tests.archive.test_destinations import use_tenant_bucket

pytestmark = pytest.mark.django_db

BROKEN = "{{db_name}}/{{date}}\n/{{id}}.eml"  # saved before templates with line breaks were refused


def test_a_redrive_takes_the_corrected_template(archive_on, ingest, s3, clock, as_csm):
    bucket = s3.create_bucket()
    cfg = use_tenant_bucket(archive_on, bucket)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(path_template_email=BROKEN)
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    for wait in (timedelta(0), timedelta(hours=1), timedelta(hours=3)):
        clock.advance(wait)
        delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    assert (row.outcome, row.failure_reason) == (Outcome.HELD, "bad_key")
    assert row.key == "" and s3.list_keys(bucket) == []  # no key is taken from a broken template
    # the CSM corrects the template and re-drives: the key follows the template now
    ArchiveSettings.objects.filter(pk=cfg.pk).update(path_template_email="fixed/{{id}}.eml")
    assert as_csm.post(reverse("admin:archive_archivedmessage_redeliver", args=[row.pk])).status_code == 302
    deliver_pending()
    row.refresh_from_db()
    assert row.outcome == Outcome.STORED and row.key == f"fixed/{row.message_id}.eml"
    assert s3.list_keys(bucket) == [f"archive/fixed/{row.message_id}.eml"]


def test_a_stored_file_keeps_its_key(archive_on, ingest, s3):
    bucket = s3.create_bucket()
    cfg = use_tenant_bucket(archive_on, bucket)
    ingest(email_sent_event(1))
    deliver_pending()
    row = message_for("uuid-1")
    assert row.outcome == Outcome.STORED
    ArchiveSettings.objects.filter(pk=cfg.pk).update(path_template_email="other/{{id}}.eml")
    ArchivedMessage.objects.filter(pk=row.pk).update(status="pending", next_attempt_at=row.stored_at)
    deliver_pending()
    assert ArchivedMessage.objects.get(pk=row.pk).key == row.key


def test_a_key_that_never_produced_a_file_follows_the_current_template(archive_on, ingest, s3, clock, as_csm):
    bucket = "not-created-yet-" + s3.bucket[-12:]
    cfg = use_tenant_bucket(archive_on, bucket, path_template_email="old/{{id}}.eml")
    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    for wait in (timedelta(0), timedelta(hours=1), timedelta(hours=3)):
        clock.advance(wait)
        delivery.archived_messages_deliver(pks=[row.pk])
    row.refresh_from_db()
    assert (row.outcome, row.failure_reason, row.key) == (Outcome.HELD, "no_such_bucket", f"old/{row.message_id}.eml")
    s3.create_bucket(bucket)
    ArchiveSettings.objects.filter(pk=cfg.pk).update(path_template_email="new/{{id}}.eml")
    as_csm.post(reverse("admin:archive_archivedmessage_redeliver", args=[row.pk]))
    deliver_pending()
    row.refresh_from_db()
    assert row.outcome == Outcome.STORED and s3.list_keys(bucket) == [f"archive/new/{row.message_id}.eml"]
