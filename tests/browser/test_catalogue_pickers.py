"""Catalogue pickers in a real browser, with a catalogue of 5,000+ names: the operator picks an
event name in the export form by typing, and saves; support filters a contact's timeline by an
event name picked the same way. Screenshots go to MKTOPS_SHOTS (a folder) when it is set."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from exports.models import ExportConnection
from mktops.ingest import events_ingest
from mktops.models import Contact, EventName, UserAttributeName
from tests.conftest import make_event

pytestmark = pytest.mark.browser


def _shot(page, name: str) -> None:
    folder = os.environ.get("MKTOPS_SHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


def _bloat(tenant, other) -> None:
    """5,001 event and attribute names: written directly, as a catalogue grown before ingestion
    capped the names per tenant (or under a raised cap) would be; a few names in another tenant."""
    for model in (EventName, UserAttributeName):
        model.objects.bulk_create([model(tenant=tenant, name=f"name-{i:05d}") for i in range(5001)])
        model.objects.bulk_create([model(tenant=other, name=f"bravo-{i:05d}") for i in range(5)])


@pytest.fixture
def big_catalogue(transactional_db, tenant_a, tenant_b):
    _bloat(tenant_a, tenant_b)
    tenant_a.s3_export_enabled = True
    tenant_a.save()
    return tenant_a


def _pick(page, select_id: str, typed: str, name: str, shot: str = "") -> None:
    """Open the select2 box beside `select_id`, type, and click the offered `name`."""
    page.click(f"#{select_id} + .select2 .select2-selection")
    with page.expect_response(lambda response: f"term={typed}" in response.url):
        page.keyboard.type(typed)
    option = page.locator(".select2-results__option", has_text=name)
    option.wait_for()
    assert page.locator(".select2-results__option").count() <= 21  # one page, not the catalogue
    if shot:
        _shot(page, shot)
    option.click()


def test_operator_picks_event_names_through_autocomplete_and_saves(big_catalogue, page_for, operator_a, s3):
    bucket = s3.create_bucket()
    page = page_for(operator_a)
    page.goto("/admin/exports/exportconnection/add/")
    assert page.locator("option").count() < 60
    page.fill("#id_name", "warehouse")
    page.fill("#id_bucket", bucket)
    page.select_option("#id_region", "us-east-1")
    page.uncheck("#id_all_events")
    _pick(page, "id_event_names", "0432", "name-04321", shot="export-form-typing.png")
    _pick(page, "id_user_attributes", "00007", "name-00007")
    # what another tenant has is never offered
    page.click("#id_event_names + .select2 .select2-selection")
    with page.expect_response(lambda response: "term=bravo" in response.url):
        page.keyboard.type("bravo")
    page.locator(".select2-results__option", has_text="No results found").wait_for()
    page.keyboard.press("Escape")
    _shot(page, "export-form-autocomplete.png")
    page.click("input[name=_continue]")
    page.wait_for_selector("#test-connection")
    connection = ExportConnection.objects.get(tenant=big_catalogue, name="warehouse")
    assert (connection.event_names, connection.user_attributes) == (["name-04321"], ["name-00007"])
    assert not connection.all_events
    # the change form shows the picked names selected, and still no catalogue
    assert page.locator("#id_event_names option:checked").all_inner_texts() == ["name-04321"]
    assert page.locator("#id_event_names + .select2").inner_text().count("name-04321") == 1
    _shot(page, "export-form-saved.png")


def test_support_filters_the_timeline_by_an_event_name_picked_by_typing(transactional_db, tenant_a, tenant_b,
                                                                        page_for, support_a):
    events_ingest(tenant=tenant_a, items=[
        make_event(1, uid="jane", event_name="App Opened"), make_event(2, uid="jane", event_name="Purchase"),
        make_event(3, uid="jane", event_name="Login")])
    _bloat(tenant_a, tenant_b)
    contact = Contact.objects.get(tenant=tenant_a, uid="jane")
    page = page_for(support_a)
    page.goto(reverse("admin:mktops_contact_change", args=[contact.pk]))
    assert page.locator("option").count() <= 1
    _pick(page, "tl-name", "purch", "Purchase", shot="contact-profile-typing.png")
    page.click(".timeline-filter input[type=submit]")
    page.wait_for_url("**event_name=Purchase**")
    rows = page.locator("#timeline .timeline-event")
    assert rows.count() == 1 and "Purchase" in rows.first.inner_text()
    assert "Purchase" in page.locator("#tl-name + .select2").inner_text()
    _shot(page, "contact-profile-event-filter.png")
