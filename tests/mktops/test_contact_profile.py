"""The contact profile: find a contact, read attributes, devices and the activity timeline."""

from datetime import UTC, datetime

import pytest
from django.urls import reverse
from django.utils.html import format_html

from mktops.admin import TIMELINE_PAGE_SIZE
from mktops.ingest import events_ingest
from mktops.models import Contact
from mktops.timeline import EventAction, register_event_actions, register_profile_panel, unregister_event_actions
from mktops.timeline import unregister_profile_panel as unregister_panel
from tests.conftest import email_sent_event, make_event

CHANGELIST = reverse("admin:mktops_contact_changelist")
DAY = 86_400
T0 = int(datetime(2026, 3, 1, 12, 0, tzinfo=UTC).timestamp())


def profile_url(contact):
    return reverse("admin:mktops_contact_change", args=[contact.pk])


@pytest.fixture
def contact(tenant_a):
    events_ingest(tenant=tenant_a, items=[
        make_event(1, uid="jane", event_name="App Opened", event_time=T0, email_id="Jane.Doe@Example.com",
                   mobile_number="+1 (555) 010-0200", user_attributes={"city": "Lisbon", "plan": "<b>pro</b>"},
                   event_attributes={"screen": "home"}, push_id="tok-jane-android",
                   device_attributes={"platform": "android"}),
        make_event(2, uid="jane", event_name="Purchase", event_time=T0 + DAY, event_attributes={"amount": 12}),
        email_sent_event(3, uid="jane", event_time=T0 + 2 * DAY, email_id="jane.doe@example.com"),
    ])
    return Contact.objects.get(tenant=tenant_a, uid="jane")


def timeline_uuids(response):
    return [row["event"].event_uuid for row in response.context["timeline"].rows]


# --- search --------------------------------------------------------------------
@pytest.mark.parametrize("term", ["jane", "jane.doe@example.com", "JANE.DOE@EXAMPLE.COM", " jane ",
                                  "+15550100200", "+1 555 010 0200", "+1 (555) 010-0200"])
def test_support_finds_a_contact_by_uid_email_or_mobile(as_support_a, contact, term):
    response = as_support_a.get(CHANGELIST, {"q": term})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == [contact]


@pytest.mark.parametrize("term", ["jan", "example.com", "555", "nobody"])
def test_search_is_exact_not_partial(as_support_a, contact, term):
    assert list(as_support_a.get(CHANGELIST, {"q": term}).context["cl"].result_list) == []


def test_search_does_not_cross_tenants(as_operator_b, contact):
    assert list(as_operator_b.get(CHANGELIST, {"q": "jane"}).context["cl"].result_list) == []


# --- the profile ------------------------------------------------------------------
def test_profile_shows_attributes_devices_and_timeline_newest_first(as_support_a, contact):
    response = as_support_a.get(profile_url(contact))
    assert response.status_code == 200
    page = response.content.decode()
    assert "jane.doe@example.com" in page and "+15550100200" in page
    assert "Lisbon" in page and "&lt;b&gt;pro&lt;/b&gt;" in page  # attributes escaped, never markup
    assert "Android" in page and "tok-jane-android"[-12:] in page
    assert timeline_uuids(response) == ["uuid-3", "uuid-2", "uuid-1"]
    assert "<details>" in page and "&quot;screen&quot;: &quot;home&quot;" in page  # expandable attributes
    assert "campaign cmp-0" in page


def test_operator_b_gets_404_on_the_profile(as_operator_b, contact):
    assert as_operator_b.get(profile_url(contact)).status_code == 404
    assert as_operator_b.get(profile_url(contact), {"page": 2}).status_code == 404


def test_support_cannot_post_to_the_profile(as_support_a, contact):
    assert as_support_a.post(profile_url(contact), {"email": "x@example.com"}).status_code == 403
    contact.refresh_from_db()
    assert contact.email == "jane.doe@example.com"


# --- filters and pages ---------------------------------------------------------------
def test_filter_by_event_name(as_support_a, contact):
    response = as_support_a.get(profile_url(contact), {"event_name": "Purchase"})
    assert timeline_uuids(response) == ["uuid-2"]
    assert '<option value="Purchase" selected>' in response.content.decode()


def test_filter_by_date_range_includes_both_days(as_support_a, contact):
    response = as_support_a.get(profile_url(contact), {"from": "2026-03-01", "to": "2026-03-02"})
    assert timeline_uuids(response) == ["uuid-2", "uuid-1"]
    response = as_support_a.get(profile_url(contact), {"from": "2026-03-03"})
    assert timeline_uuids(response) == ["uuid-3"]
    response = as_support_a.get(profile_url(contact), {"to": "2026-02-28"})
    assert timeline_uuids(response) == []
    assert "No events match these filters." in response.content.decode()


@pytest.mark.parametrize("raw", ["yesterday", "2026-02-30", "2026-13-01", "01/03/2026", "9999999-01-01"])
def test_a_bad_date_is_an_error_message_not_a_500(as_support_a, contact, raw):
    response = as_support_a.get(profile_url(contact), {"from": raw})
    assert response.status_code == 200
    assert "is not a date (YYYY-MM-DD)" in response.content.decode()
    assert len(timeline_uuids(response)) == 3  # the bad bound is ignored, the page still works


@pytest.mark.parametrize("page", ["0", "-3", "abc", "99999999999999999999999", "1e9"])
def test_odd_page_numbers_never_break_the_profile(as_support_a, contact, page):
    assert as_support_a.get(profile_url(contact), {"page": page}).status_code == 200


def test_the_timeline_is_paginated(as_support_a, tenant_a):
    count = TIMELINE_PAGE_SIZE + 5
    events_ingest(tenant=tenant_a, items=[make_event(i, uid="busy", event_time=T0 + i) for i in range(count)])
    busy = Contact.objects.get(tenant=tenant_a, uid="busy")

    first = as_support_a.get(profile_url(busy))
    assert timeline_uuids(first) == [f"uuid-{i}" for i in reversed(range(5, count))]
    assert first.context["timeline"].next_url and not first.context["timeline"].previous_url
    second = as_support_a.get(profile_url(busy) + first.context["timeline"].next_url)
    assert timeline_uuids(second) == [f"uuid-{i}" for i in reversed(range(5))]
    assert not second.context["timeline"].next_url
    assert "page=1" in second.context["timeline"].previous_url


def test_pagination_keeps_the_filters(as_support_a, tenant_a):
    events_ingest(tenant=tenant_a, items=[make_event(i, uid="busy", event_time=T0 + i)
                                          for i in range(TIMELINE_PAGE_SIZE + 1)])
    busy = Contact.objects.get(tenant=tenant_a, uid="busy")
    response = as_support_a.get(profile_url(busy), {"event_name": "Purchase", "from": "2026-03-01"})
    next_url = response.context["timeline"].next_url
    assert "event_name=Purchase" in next_url and "from=2026-03-01" in next_url and "page=2" in next_url


# --- the extension point -------------------------------------------------------------
@pytest.fixture
def provider():
    seen = []

    def archive_like(request, events):
        seen.append(len(events))
        return {
            ev.pk: [EventAction("View sent message", url=f"/view/{ev.pk}/"),
                    EventAction("Download", url=f"/download/{ev.pk}/", download=True)]
            if ev.event_name == "Email Sent" else
            [EventAction("View sent message", enabled=False, reason="not archived")]
            for ev in events
        }

    register_event_actions(archive_like)
    yield seen
    unregister_event_actions(archive_like)


def test_a_feature_adds_actions_to_events(as_support_a, contact, provider):
    response = as_support_a.get(profile_url(contact))
    page = response.content.decode()
    email = contact.events.get(event_uuid="uuid-3")
    assert f'href="/view/{email.pk}/"' in page
    assert f'href="/download/{email.pk}/" class="button" download' in page
    assert "(not archived)" in page
    assert provider == [3]  # one call for the whole page


def test_a_failing_provider_does_not_break_the_page(as_support_a, contact, provider):
    def broken(request, events):
        raise RuntimeError("feature bug")

    register_event_actions(broken)
    try:
        response = as_support_a.get(profile_url(contact))
    finally:
        unregister_event_actions(broken)
    assert response.status_code == 200
    assert "View sent message" in response.content.decode()  # the healthy provider still shows


def test_profile_panels_add_boxes_and_a_failing_one_is_skipped(as_support_a, contact):
    def quarantine_like(request, c):
        return format_html('<div class="module" id="q-panel">{} is not quarantined</div>', c.email)

    def broken(request, c):
        raise RuntimeError("feature bug")

    register_profile_panel(quarantine_like)
    register_profile_panel(broken)
    try:
        response = as_support_a.get(profile_url(contact))
    finally:
        unregister_panel(quarantine_like)
        unregister_panel(broken)
    assert response.status_code == 200
    assert '<div class="module" id="q-panel">jane.doe@example.com is not quarantined</div>' in (
        response.content.decode())


def test_the_profile_makes_as_many_queries_for_a_full_page_as_for_two_events(as_support_a, tenant_a):
    """No query per timeline row: sent events with messages and devices on every row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(uid, count):
        events_ingest(tenant=tenant_a, items=[
            email_sent_event(i, uid=uid, event_uuid=f"{uid}-{i}", event_time=T0 + i, push_id=f"tok-{uid}",
                             device_attributes={"platform": "ios"}) for i in range(count)])
        contact = Contact.objects.get(tenant=tenant_a, uid=uid)
        with CaptureQueriesContext(connection) as queries:
            assert as_support_a.get(profile_url(contact)).status_code == 200
        return len(queries)

    assert queries_for("few", 2) == queries_for("many", TIMELINE_PAGE_SIZE)


# --- the timeline's event box autocompletes, never lists the tenant's catalogue -----------------
def _names(response) -> list[str]:
    assert response.status_code == 200, response
    return [r["id"] for r in response.json()["results"]]


@pytest.fixture
def big_catalogue(contact, tenant_b):
    from mktops.models import EventName

    EventName.objects.bulk_create([EventName(tenant=contact.tenant, name=f"name-{i:05d}") for i in range(5001)])
    EventName.objects.bulk_create([EventName(tenant=tenant_b, name=f"bravo-{i}") for i in range(3)])
    return contact


def test_the_profile_lists_no_event_names(big_catalogue, as_support_a):
    response = as_support_a.get(profile_url(big_catalogue), {"event_name": "Purchase"})
    page = response.content.decode()
    assert page.count("<option") <= 2 and len(response.content) < 100_000
    assert '<option value="Purchase" selected>' in page and "name-00001" not in page
    assert "catalogue-autocomplete" in page and "mktops/catalogue-autocomplete.js" in page


def test_the_event_names_endpoint_pages_the_contacts_tenant_names(big_catalogue, as_support_a):
    url = reverse("admin:mktops_contact_event_names", args=[big_catalogue.pk])
    first = as_support_a.get(url).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"]
    assert _names(as_support_a.get(url, {"term": "name-", "page": 2}))[0] == "name-00020"
    assert _names(as_support_a.get(url, {"term": "purch"})) == ["Purchase"]
    assert _names(as_support_a.get(url, {"term": "bravo"})) == []


def test_the_event_names_endpoint_is_404_for_another_tenant(big_catalogue, as_operator_b):
    url = reverse("admin:mktops_contact_event_names", args=[big_catalogue.pk])
    assert as_operator_b.get(url).status_code == 404
    assert as_operator_b.get(url, {"tenant": big_catalogue.tenant_id}).status_code == 404
