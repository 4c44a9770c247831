"""Customer support looks a demo contact up and reads the timeline in a real browser;
another tenant's operator cannot open that contact."""

import re

import pytest
from django.core.management import call_command

from mktops.management.commands.seed_demo import DEMO_PASSWORD
from mktops.models import Contact, Event

pytestmark = pytest.mark.browser


@pytest.fixture
def demo(transactional_db):
    call_command("seed_demo", contacts=20, events=300, stdout=open("/dev/null", "w"))  # noqa: SIM115


def busiest_contact() -> Contact:
    contact = max(Contact.objects.filter(tenant__slug="demo"), key=lambda c: c.events.count())
    assert contact.events.count() > 3
    return contact


def test_support_finds_a_contact_and_reads_the_timeline(demo, page_for, live_server):
    from django.contrib.auth import get_user_model

    contact = busiest_contact()
    newest = Event.objects.filter(contact=contact).order_by("-event_time", "-id").first()
    support = get_user_model().objects.get(username="demo-support")

    page = page_for(support, password=DEMO_PASSWORD)  # through the real login form
    page.goto("/admin/mktops/contact/")
    page.fill("#searchbar", contact.uid)
    page.press("#searchbar", "Enter")
    page.wait_for_url(f"**/admin/mktops/contact/?q={contact.uid}")
    results = page.locator("#result_list tbody tr")
    assert results.count() == 1
    results.get_by_role("link", name=contact.uid).click()

    # the admin keeps the search in `_changelist_filters`
    page.wait_for_url(re.compile(rf"/admin/mktops/contact/{contact.pk}/change/(\?.*)?$"))
    assert page.locator("#contact-uid").inner_text() == contact.uid
    assert contact.email in page.locator(".contact-profile").inner_text()

    rows = page.locator("#timeline .timeline-event")
    assert rows.count() == min(25, contact.events.count())
    times = rows.locator("td:first-child").all_inner_texts()
    assert times == sorted(times, reverse=True)  # newest first
    first = rows.first
    assert first.get_attribute("data-event-id") == str(newest.pk)
    assert newest.event_name in first.locator("summary").inner_text()
    details = first.locator("details")
    assert not details.locator("pre").is_visible()
    first.locator("summary").click()
    assert details.locator("pre").is_visible()
    expanded = details.inner_text()
    assert newest.event_uuid in expanded and newest.event_code in expanded
    assert str(newest.event_attributes[next(iter(newest.event_attributes))]) in expanded

    # support changes nothing: no save buttons on the profile
    assert page.locator("input[name=_save]").count() == 0


def test_another_tenants_operator_gets_404(demo, page_for, operator_b):
    contact = busiest_contact()
    page = page_for(operator_b)
    response = page.goto(f"/admin/mktops/contact/{contact.pk}/change/")
    assert response.status == 404
    assert contact.uid not in page.content()
    # nor does the contact show up in their search
    page.goto(f"/admin/mktops/contact/?q={contact.uid}")
    assert page.locator("#changelist").is_visible()
    assert page.get_by_role("link", name=contact.uid).count() == 0
