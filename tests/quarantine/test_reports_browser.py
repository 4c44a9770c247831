"""The analysis side in a real browser: an operator opts a contact out of email from its profile,
reads a delivery's report and the bounce report with its chart and projection. Screenshots go
to MKTOPS_SHOTS (a folder) when it is set."""

import os
from pathlib import Path

import pytest
from django.urls import reverse

from mktops.ingest import events_ingest
from quarantine.analysis import delivery_analyse
from quarantine.models import BlocklistEntry, Delivery
from tests.conftest import email_sent_event
from tests.quarantine.analysis_helpers import contact, entry
from tests.quarantine.report_helpers import apply, report

pytestmark = pytest.mark.browser


def _shot(page, name: str) -> None:
    folder = os.environ.get("MKTOPS_SHOTS")
    if folder:
        page.screenshot(path=str(Path(folder) / name), full_page=True)


@pytest.fixture
def scene(transactional_db, tenant_a):
    ann = contact(tenant_a, "ann", email="ann@example.com", mobile="+4915100000001", tokens=["tok-ann-0123456789"])
    for i in range(6):
        entry(tenant_a, f"user{i}@gmail.example", error_type="hard" if i % 2 else "soft",
              error_reason="unknown_user" if i % 2 else "mailbox_full")
    entry(tenant_a, "x@yahoo.example", "valid", error_type="ignored", error_reason="refused")
    contact(tenant_a, "gina", email="user1@gmail.example")
    entry(tenant_a, "+4915100000001", "denylisted", channel="sms", error_type="", error_reason="")
    events_ingest(tenant=tenant_a, items=[email_sent_event(1, uid="ann", email_id="ann@example.com",
                                                           event_attributes={"campaign_id": "spring-sale"})])
    delivery_analyse(tenant=tenant_a, delivery_id="spring-sale", channel="email", targets=[
        ("u1", "user1@gmail.example"), ("u2", "fresh@example.com"), ("ann", "ann@example.com")])
    delivery_analyse(tenant=tenant_a, delivery_id="sms-promo", channel="sms", targets=[("ann", "+4915100000001")])
    apply(tenant_a, report("fresh@example.com", delivery_id="spring-sale"))
    return ann


def test_operator_opts_out_and_reads_the_reports(page_for, operator_a, scene, tenant_a):
    page = page_for(operator_a)
    page.goto(reverse("admin:mktops_contact_change", args=[scene.pk]))
    panel = page.locator("#quarantine-panel")
    assert "On denylist" in panel.inner_text()
    assert "Excluded at analysis: on denylist" in page.locator("#quarantine-deliveries").inner_text()
    page.locator('input.q-block[data-channel="email"]').click()
    page.wait_for_selector("strong.blocklisted")
    assert BlocklistEntry.objects.filter(uid="ann", channel="email").exists()
    _shot(page, "quarantine-profile.png")

    delivery = Delivery.objects.get(delivery_id="spring-sale")
    page.goto(reverse("admin:quarantine_delivery_change", args=[delivery.pk]))
    assert page.locator("#excluded-at-analysis").inner_text() == "1"
    assert "fresh@example.com" in page.locator("#quarantined-after").inner_text()
    _shot(page, "quarantine-delivery-report.png")

    page.goto(reverse("admin:quarantine_delivery_changelist"))
    _shot(page, "quarantine-deliveries.png")
    page.locator("#bounce-report-link").click()
    page.wait_for_selector("svg.bounce-chart")
    assert "gmail.example" in page.locator("#bounce-table").inner_text()
    page.fill("#p-lifetime", "3")
    page.fill("#p-growth", "50")
    page.fill("#p-years", "4")
    page.locator("#projection input[type=submit]").click()
    page.wait_for_selector("#projection-table tbody tr:nth-child(4)")
    assert "32.5 %" in page.locator("#projection-table").inner_text()
    _shot(page, "quarantine-bounces.png")

    page.goto(reverse("admin:mktops_contact_changelist") + "?email_quarantine=excluded")
    assert "gina" in page.locator("#result_list").inner_text()
    assert "ann" not in page.locator("#result_list").inner_text()
    _shot(page, "quarantine-contact-filter.png")
    page.goto(reverse("admin:quarantine_blocklistentry_changelist"))
    assert "ann" in page.locator("#result_list").inner_text()
    _shot(page, "quarantine-blocklist.png")
    page.goto(reverse("admin:quarantine_blocklistentry_add"))
    page.select_option("#id_tenant", str(tenant_a.pk))
    page.fill("#id_uid_given", "gina")
    page.select_option("#id_channel", "sms")
    page.fill("#id_note", "replied STOP to the shop")
    _shot(page, "quarantine-blocklist-add.png")
    page.locator("input[name=_save]").click()
    page.wait_for_selector("#result_list")
    assert BlocklistEntry.objects.filter(uid="gina", channel="sms", note="replied STOP to the shop").exists()
