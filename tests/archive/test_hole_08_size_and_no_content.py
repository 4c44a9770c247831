"""Issue 14 item 8: the 250 KB rule applies to the template (the email's HTML as sent), not
the whole JSON with its text part; a sent event with no content gets a row, skipped with the
reason 'no content reported', and the completeness report counts it."""

import pytest
from django.urls import reverse
from django_q.brokers import get_broker

from archive import tasks
from archive.models import Outcome, SkipReason
from archive.services import repair
from archive.services.intake import MAX_CONTENT_BYTES
from mktops import clock as mk_clock
from tests.archive.conftest import confirm_destinations, email_sent_event, make_event, message_for, run_all, settings_of
from tests.archive.test_pipeline import _dequeue

pytestmark = pytest.mark.django_db


def with_body(i, *, html: str, text: str):
    event = email_sent_event(i)
    event["message"].update(html=html, text=text)
    return event


def test_html_under_250_kb_is_archived_even_when_the_text_part_makes_the_json_larger(archive_on, ingest, s3):
    html = "<p>" + "h" * (MAX_CONTENT_BYTES - 1000) + "</p>"
    ingest(with_body(1, html=html, text="t" * 200_000))
    run_all()
    row = message_for("uuid-1")
    assert (row.outcome, row.skip_reason) == (Outcome.STORED, "")


def test_html_over_250_kb_is_skipped_as_too_large(archive_on, ingest, s3):
    ingest(with_body(1, html="<p>" + "h" * MAX_CONTENT_BYTES + "</p>", text="short"))
    run_all()
    assert (message_for("uuid-1").outcome, message_for("uuid-1").skip_reason) == (Outcome.SKIPPED,
                                                                                   SkipReason.TOO_LARGE)


def test_a_sent_event_without_content_gets_a_row_no_content_reported(archive_on, api, s3, as_operator_a,
                                                                      django_capture_on_commit_callbacks):
    bare = email_sent_event(1)
    del bare["message"]
    broker = get_broker()
    broker.purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        assert api("/events", {"events": [bare, email_sent_event(2), make_event(3)]}).status_code == 200
    # the receiver hands the task both sent events, the one without content too
    task = _dequeue(broker, "archive.tasks.deliver_events")
    assert len(task["args"][1]) == 2
    confirm_destinations()
    tasks.deliver_events(*task["args"])
    row = message_for("uuid-1")
    assert (row.outcome, row.skip_reason) == (Outcome.SKIPPED, SkipReason.NO_CONTENT)
    assert message_for("uuid-2").outcome == Outcome.STORED
    today = mk_clock.now().date()
    (cell,) = [c for c in repair.completeness_report(tenant=archive_on, day_from=row.event_time.date(),
                                                     day_to=today) if c["channel"] == "email"]
    assert cell["skipped"] == {SkipReason.NO_CONTENT: 1} and cell["stored"] == 1
    url = reverse("admin:archive_archivesettings_completeness", args=[settings_of(archive_on).pk])
    page = as_operator_a.get(f"{url}?from={row.event_time.date()}&to={today}").content.decode()
    assert "No content reported" in page
