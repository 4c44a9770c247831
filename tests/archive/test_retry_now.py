"""Issue 12 item 11: operators and CSMs push rows waiting for a retry to run now, with an audit
row; support cannot; another tenant's rows are untouchable; the rows go to the broker at commit."""

import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from archive.models import ArchivedMessage
from archive.services import repair
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.archive.conftest import email_sent_event, message_for

pytestmark = pytest.mark.django_db
LIST = "/admin/archive/archivedmessage/"


@pytest.fixture
def waiting(archive_on, ingest, clock):
    from datetime import timedelta

    ingest(email_sent_event(1))
    row = message_for("uuid-1")
    ArchivedMessage.objects.filter(pk=row.pk).update(status=JobStatus.RETRYING, attempts=1,
                                                     next_attempt_at=clock.now() + timedelta(hours=1))
    return message_for("uuid-1")


def test_the_service_makes_waiting_rows_due_and_enqueues_them(waiting, operator_a, clock,
                                                              django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        assert repair.archived_messages_retry_now(messages=[waiting], by=operator_a) == [waiting.pk]
    assert len(callbacks) == 1  # handed to the broker once the change is committed
    waiting.refresh_from_db()
    assert waiting.next_attempt_at <= clock.now() and waiting.status == JobStatus.RETRYING
    # the worker that task reaches now takes the row
    from archive.services import delivery

    assert [r.pk for r in delivery.archived_messages_deliver(pks=[waiting.pk])] == [waiting.pk]
    audit = AuditLog.objects.get(action="archive.retry_now")
    assert audit.user == operator_a and audit.detail["ids"] == [waiting.pk]


def test_support_may_not(waiting, support_a):
    with pytest.raises(PermissionDenied):
        repair.archived_messages_retry_now(messages=[waiting], by=support_a)


def test_the_admin_action_and_button(waiting, as_operator_a, as_support_a, as_operator_b, as_csm, clock):
    url = reverse("admin:archive_archivedmessage_retry_now", args=[waiting.pk])
    page = reverse("admin:archive_archivedmessage_message", args=[waiting.pk])
    assert 'id="retry-now"' in as_operator_a.get(page).content.decode()
    assert 'id="retry-now"' not in as_support_a.get(page).content.decode()
    assert as_support_a.post(url).status_code == 403
    assert as_operator_b.post(url).status_code == 404
    assert as_operator_a.get(url).status_code == 405
    assert as_operator_a.post(url).status_code == 302
    waiting.refresh_from_db()
    assert waiting.next_attempt_at <= clock.now()
    # the changelist action: offered to operators and CSMs, not to support
    assert "retry_now_selected" in as_csm.get(LIST).content.decode()
    assert "retry_now_selected" not in as_support_a.get(LIST).content.decode()
    response = as_csm.post(LIST, {"action": "retry_now_selected", "_selected_action": [waiting.pk]})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="archive.retry_now").count() == 2
