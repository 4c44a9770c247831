"""The quarantine on the contact profile, and the contact list's "email quarantined" filter."""

import pytest
from django.urls import reverse

from mktops.ingest import events_ingest
from quarantine.analysis import delivery_analyse
from tests.conftest import email_sent_event
from tests.quarantine.analysis_helpers import contact, entry
from tests.quarantine.report_helpers import apply, report

CONTACTS = reverse("admin:mktops_contact_changelist")


@pytest.fixture
def ann(tenant_a):
    person = contact(tenant_a, "ann", email="ann@example.com", mobile="+4915100000001", tokens=["tok-ann-123456789"])
    entry(tenant_a, "+4915100000001", "denylisted", channel="sms", error_type="", error_reason="")
    return person


def profile(client, person):
    return client.get(reverse("admin:mktops_contact_change", args=[person.pk]))


def test_each_address_shows_its_quarantine_status(as_support_a, ann, tenant_a):
    apply(tenant_a, report("ann@example.com", delivery_id="d-bounce"))
    html = profile(as_support_a, ann).content.decode()
    panel = html[html.index('id="quarantine-panel"'):]
    assert "ann@example.com" in panel and "<strong>Quarantined</strong>" in panel
    assert "+4915100000001" in panel and "<strong>On denylist</strong>" in panel
    assert "<strong>Valid</strong><br><small>no error recorded</small>" in panel  # the push token


def test_the_deliveries_section_has_sent_excluded_and_failed(as_operator_a, ann, tenant_a):
    events_ingest(tenant=tenant_a, items=[email_sent_event(1, uid="ann", email_id="ann@example.com",
                                                           event_attributes={"campaign_id": "d-sent"})])
    delivery_analyse(tenant=tenant_a, delivery_id="d-excluded", channel="sms", targets=[("ann", "+4915100000001")])
    apply(tenant_a, report("ann@example.com", delivery_id="d-failed"))
    html = profile(as_operator_a, ann).content.decode()
    section = html[html.index('id="quarantine-deliveries"'):]
    assert "d-sent" in section and "Targeted (sent)" in section
    assert "d-excluded" in section and "Excluded at analysis: on denylist" in section
    assert reverse("admin:quarantine_delivery_change", args=[
        tenant_a.quarantine_deliveries.get(delivery_id="d-excluded").pk]) in section
    assert "d-failed" in section and "Failed: hard, unknown user" in section


def test_tenant_b_sees_no_profile_of_tenant_a(as_operator_b, ann):
    assert profile(as_operator_b, ann).status_code == 404


def test_the_contact_list_filters_contacts_whose_email_is_quarantined(as_support_a, tenant_a, tenant_b):
    contact(tenant_a, "q-person", email="q@example.com")
    contact(tenant_a, "d-person", email="d@example.com")
    contact(tenant_a, "ok-person", email="ok@example.com")
    contact(tenant_a, "sms-only", email="", mobile="+4915100000009")
    entry(tenant_a, "q@example.com")
    entry(tenant_a, "d@example.com", "denylisted")
    entry(tenant_a, "ok@example.com", "allowlisted")
    entry(tenant_b, "ok@example.com")  # another tenant's entry says nothing about tenant A's contact
    entry(tenant_a, "+4915100000009", channel="sms")

    def uids(value):
        html = as_support_a.get(CONTACTS, {"email_quarantine": value}).content.decode()
        return {uid for uid in ("q-person", "d-person", "ok-person", "sms-only") if f">{uid}<" in html}

    assert uids("quarantined") == {"q-person"}
    assert uids("denylisted") == {"d-person"}
    assert uids("excluded") == {"q-person", "d-person"}
    listing = as_support_a.get(CONTACTS).content.decode()
    assert "Email quarantined" in listing  # the filter is offered


def test_operator_b_filtering_sees_only_tenant_b(as_operator_b, tenant_a):
    contact(tenant_a, "q-person", email="q@example.com")
    entry(tenant_a, "q@example.com")
    assert ">q-person<" not in as_operator_b.get(CONTACTS, {"email_quarantine": "quarantined"}).content.decode()


def test_an_opt_out_marks_each_address_of_its_channel(as_support_a, ann):
    from quarantine.blocklist import blocklist_add

    blocklist_add(contact=ann, channel="push")
    html = profile(as_support_a, ann).content.decode()
    rows = html[html.index('id="quarantine-addresses"'):html.index('id="quarantine-blocklist"')].split("<tr")
    marked = [row for row in rows if "not targeted: opted out" in row]
    assert len(marked) == 1 and "Push" in marked[0]
