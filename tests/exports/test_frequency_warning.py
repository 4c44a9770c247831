"""Issue 13 item 11: the page warns what a frequency change does, says mktops loses and duplicates nothing
(the watermark) and that the path stays; after saving, when the next file comes. In Chromium too."""

from datetime import timedelta

import pytest
from django.utils.html import escape

from exports.models import Frequency
from exports.services import connections, schedule
from mktops import clock as mk_clock
from tests.exports.test_admin import form_data

BASE = "/admin/exports/exportconnection/"


def test_the_form_says_what_a_frequency_change_does(make_connection, as_operator_a, as_support_a):
    connection = make_connection()
    for client, url in ((as_operator_a, f"{BASE}add/"), (as_operator_a, f"{BASE}{connection.pk}/change/")):
        assert escape(connections.FREQUENCY_HELP) in client.get(url).content.decode()
    # support reads the page but gets no live warning: it changes nothing
    assert b'id="frequency-warning"' not in as_support_a.get(f"{BASE}{connection.pk}/change/").content


def test_saving_a_change_says_when_the_next_file_comes(make_connection, as_operator_a, entitled, bucket, clock):
    connection = make_connection()
    data = form_data(entitled, bucket, name="warehouse", region="us-east-1", frequency="weekly")
    data.pop("tenant")
    response = as_operator_a.post(f"{BASE}{connection.pk}/change/", data, follow=True)
    html = response.content.decode()
    connection.refresh_from_db()
    assert connection.frequency == Frequency.WEEKLY
    assert "Frequency changed to Weekly on Monday at 00:00 UTC" in html
    assert f"{connection.next_run_at:%Y-%m-%d %H:%M} UTC" in html
    assert "nothing is lost or sent twice, and the path stays" in html


@pytest.mark.browser
def test_the_warning_shows_as_soon_as_another_frequency_is_picked(transactional_db, page_for, make_connection,
                                                                  operator_a, s3, clock):
    # just after a 15-minute boundary: the slot the page shows is the one computed here
    now = mk_clock.now()
    mk_clock.advance(schedule.next_slot(Frequency.EVERY_15_MINUTES, now) - now + timedelta(seconds=1))
    connection = make_connection()
    page = page_for(operator_a)
    page.set_viewport_size({"width": 1400, "height": 900})
    page.goto(f"{BASE}{connection.pk}/change/")
    warning = page.locator("#frequency-warning")
    assert warning.is_hidden()
    page.select_option("#id_frequency", "daily")
    assert warning.is_visible()
    text = warning.inner_text()
    slot = schedule.connection_next_slot(connection, mk_clock.now())  # before the first file: 15 minutes
    assert f"{slot:%Y-%m-%d %H:%M} UTC" in text
    assert "loses and duplicates nothing" in text and "the path stays the same" in text
    page.locator("#frequency-warning").scroll_into_view_if_needed()
    page.screenshot(path="/tmp/h_exports_frequency.png", full_page=True)
    page.select_option("#id_frequency", "15min")
    assert warning.is_hidden()
