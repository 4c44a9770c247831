"""Issue 13 item 14: the pages as an operator sees them. In Chromium at 1400 pixels: no table wider than the
screen, no internal words; the run list filters by connection (scoped per tenant); dates in one format with
UTC; one error for a duplicate name; the event picker hidden while "all events" is ticked."""

import re
from datetime import timedelta

import pytest
from django.utils.html import escape

from exports.models import ExportConnection, ExportRun
from exports.services import rules
from mktops import clock as mk_clock
from mktops.jobs import JobStatus
from tests.exports.conftest import run_due
from tests.exports.test_admin import form_data

BASE = "/admin/exports/exportconnection/"
RUNS = "/admin/exports/exportrun/"
INTERNAL = re.compile(r"ingest sequence|\bseq\b|exported_seq", re.IGNORECASE)
LONG_ERROR = ("Access denied: the bucket policy does not let the platform write here; paste the policy shown on "
              "the connection page into the bucket's policy and press Retry. " * 3)


@pytest.fixture
def busy(make_connection, ingest, clock, s3):
    """A connection with a done run and a failing one whose error is long."""
    connection = make_connection(name="My S3 Export", folder_path="a/rather/long/folder/path/for/the/table")
    ingest(0, 3)
    run_due()
    ingest(3, 2)
    (failing,) = run_due()
    ExportRun.objects.filter(pk=failing.pk).update(status=JobStatus.RETRYING, attempts=4, last_error=LONG_ERROR,
                                                   next_attempt_at=mk_clock.now() + timedelta(hours=1))
    return connection


@pytest.mark.browser
def test_every_page_fits_1400_pixels_and_says_no_internal_words(transactional_db, page_for, busy, operator_a):
    page = page_for(operator_a)
    page.set_viewport_size({"width": 1400, "height": 900})
    pages = {"connections": BASE, "connection": f"{BASE}{busy.pk}/change/", "runs": RUNS,
             "run": f"{RUNS}{ExportRun.objects.order_by('id').first().pk}/change/", "add": f"{BASE}add/",
             "reexport": f"{BASE}{busy.pk}/reexport/"}
    for name, url in pages.items():
        page.goto(url)
        page.screenshot(path=f"/tmp/h_exports_fit_{name}.png", full_page=True)
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 1400, (name, width)
        # nor cut inside its own box: the changelist scrolls its table sideways when it is too wide
        cut = page.evaluate("""() => [...document.querySelectorAll('table, .results')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > 1400)
            .map(e => e.className || e.tagName)""")
        assert cut == [], (name, cut)
        text = page.inner_text("#content")
        assert not INTERNAL.search(text), (name, INTERNAL.search(text))
    page.goto(f"{BASE}{busy.pk}/change/")
    link = page.locator("#export-all-runs")
    assert link.is_visible()
    # readable: the link's colour is not the colour of what is behind it
    colour, background = page.evaluate("""() => { const a = document.getElementById('export-all-runs');
        return [getComputedStyle(a).color, getComputedStyle(a.closest('.module')).backgroundColor]; }""")
    assert colour != background
    link.click()
    page.wait_for_selector("#result_list")
    assert page.locator("#result_list tbody tr").count() == 2


@pytest.mark.browser
def test_the_event_picker_is_hidden_while_all_events_is_ticked(transactional_db, page_for, entitled, operator_a):
    page = page_for(operator_a)
    page.goto(f"{BASE}add/")
    picker = page.locator(".form-row.field-event_names")
    assert page.is_checked("#id_all_events") and picker.is_hidden()
    page.uncheck("#id_all_events")
    assert picker.is_visible()
    page.check("#id_all_events")
    assert picker.is_hidden()


def test_the_run_list_filters_by_connection_within_the_users_tenants(busy, make_connection, ingest, as_operator_a,
                                                                     as_operator_b, clock):
    other = make_connection(name="other")
    ingest(10, 1)
    run_due()
    assert ExportRun.objects.filter(connection=other).exists()
    page = as_operator_a.get(f"{RUNS}?connection={busy.pk}")
    assert page.status_code == 200
    shown = {run.pk for run in page.context["cl"].result_list}
    assert shown == set(ExportRun.objects.filter(connection=busy).values_list("pk", flat=True))
    assert "other" in page.content.decode()  # offered as a filter choice
    page_b = as_operator_b.get(RUNS)
    assert "My S3 Export" not in page_b.content.decode()  # tenant A's connections are not offered to B
    assert not list(as_operator_b.get(f"{RUNS}?connection={busy.pk}").context["cl"].result_list)


def test_dates_in_one_format_with_utc(busy, as_operator_a):
    html = as_operator_a.get(f"{BASE}{busy.pk}/change/").content.decode()
    connection = ExportConnection.objects.get(pk=busy.pk)
    assert f"{connection.next_run_at:%Y-%m-%d %H:%M} UTC" in html
    assert not re.search(r"\b(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\.? \d", html)
    runs = as_operator_a.get(RUNS).content.decode()
    assert not re.search(r"\b(a\.m\.|p\.m\.)", runs + html)


def test_a_duplicate_name_gets_one_error(make_connection, as_operator_a, tenant_a, bucket):
    make_connection(name="dwh")
    response = as_operator_a.post(f"{BASE}add/", form_data(tenant_a, bucket, name="dwh"))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["name"] == [rules.ERR_NAME_TAKEN] and "__all__" not in errors
    assert response.content.decode().count(escape(rules.ERR_NAME_TAKEN)) == 1


@pytest.mark.browser
def test_the_csms_pages_fit_too(transactional_db, page_for, busy, csm):
    page = page_for(csm)
    page.set_viewport_size({"width": 1400, "height": 900})
    for name, url in {"csm_connections": BASE, "csm_usage": "/admin/exports/exportconnectionusage/",
                      "csm_connection": f"{BASE}{busy.pk}/change/", "csm_runs": RUNS}.items():
        page.goto(url)
        page.screenshot(path=f"/tmp/h_exports_fit_{name}.png", full_page=True)
        cut = page.evaluate("""() => [...document.querySelectorAll('table, .results')]
            .filter(e => e.scrollWidth > e.clientWidth + 1 || e.getBoundingClientRect().right > 1400)
            .map(e => e.className || e.tagName)""")
        assert cut == [], (name, cut)
    page.goto("/admin/exports/exportconnectionusage/")
    assert "My S3 Export" in page.inner_text("#result_list")
