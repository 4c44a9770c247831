"""The delivery report and the bounce report by domain, by persona."""

from datetime import timedelta

import pytest
from django.urls import reverse

from quarantine.analysis import delivery_analyse
from quarantine.models import Delivery
from quarantine.reports import bounce_chart_svg, bounce_report, delivery_quarantined_after
from tests.quarantine.analysis_helpers import entry
from tests.quarantine.report_helpers import apply, report

BOUNCES = reverse("admin:quarantine_delivery_bounces")


@pytest.fixture
def delivery(tenant_a):
    entry(tenant_a, "old@example.com")
    entry(tenant_a, "deny@example.com", "denylisted")
    delivery_analyse(tenant=tenant_a, delivery_id="spring-sale", channel="email", targets=[
        ("u1", "old@example.com"), ("u2", "deny@example.com"), ("u3", "fresh@example.com"),
        ("u4", "gone@example.com")])
    # after the send, its reports quarantine gone@ (hard) and count a soft error for fresh@
    apply(tenant_a, report("gone@example.com", delivery_id="spring-sale"),
          report("fresh@example.com", delivery_id="spring-sale",
                 raw="452 4.2.2 <fresh@example.com>: Mailbox full"))
    return Delivery.objects.get(tenant=tenant_a, delivery_id="spring-sale")


def page(client, delivery):
    return client.get(reverse("admin:quarantine_delivery_change", args=[delivery.pk]))


def test_the_delivery_report_shows_exclusions_and_what_its_reports_quarantined(as_operator_a, delivery):
    assert [e.address for e in delivery_quarantined_after(delivery=delivery)] == ["gone@example.com"]
    response = page(as_operator_a, delivery)
    assert response.status_code == 200
    html = response.content.decode()
    assert '<b id="excluded-at-analysis">2</b>' in html
    assert '<b id="quarantined-after-count">1</b>' in html
    assert "old@example.com" in html and "deny@example.com" in html and "gone@example.com" in html
    only_denied = as_operator_a.get(reverse("admin:quarantine_delivery_change", args=[delivery.pk]),
                                    {"reason": "denylisted"}).content.decode()
    assert "deny@example.com" in only_denied and "<td>old@example.com</td>" not in only_denied


def test_support_reads_the_reports_and_the_list_but_deletes_nothing(as_support_a, delivery):
    assert page(as_support_a, delivery).status_code == 200
    assert as_support_a.get(BOUNCES).status_code == 200
    assert as_support_a.get(reverse("admin:quarantine_delivery_changelist")).status_code == 200
    assert as_support_a.post(reverse("admin:quarantine_delivery_delete", args=[delivery.pk]),
                             {"post": "yes"}).status_code == 403
    assert Delivery.objects.count() == 1


def test_nobody_deletes_the_exclusion_log(as_operator_a, delivery):
    assert as_operator_a.post(reverse("admin:quarantine_delivery_delete", args=[delivery.pk]),
                              {"post": "yes"}).status_code == 403
    assert Delivery.objects.count() == 1


def test_tenant_b_gets_404_for_tenant_a_reports(as_operator_b, delivery, tenant_a):
    assert page(as_operator_b, delivery).status_code == 404
    assert as_operator_b.get(BOUNCES, {"tenant": tenant_a.pk}).status_code == 404
    own = as_operator_b.get(BOUNCES).content.decode()
    assert "example.com" not in own
    assert "spring-sale" not in as_operator_b.get(reverse("admin:quarantine_delivery_changelist")).content.decode()


def test_bounces_by_domain_and_error_type(tenant_a, tenant_b):
    for i in range(3):
        entry(tenant_a, f"a{i}@gmail.example", error_type="hard")
    entry(tenant_a, "s@gmail.example", "valid", error_type="soft", error_reason="mailbox_full", error_count=2)
    entry(tenant_a, "x@yahoo.example", "valid", error_type="ignored", error_reason="refused")
    entry(tenant_a, "never@ok.example", "allowlisted", error_type="")
    entry(tenant_b, "b@gmail.example", error_type="hard")
    result = bounce_report(tenant_ids=[tenant_a.pk], channel="email", period="all")
    rows = {r.domain: (r.hard, r.soft, r.ignored, r.quarantined, r.errors) for r in result["rows"]}
    assert rows == {"gmail.example": (3, 1, 0, 3, 5), "yahoo.example": (0, 0, 1, 0, 1)}
    platform = bounce_report(tenant_ids=None, channel="email", period="all")
    assert {r.domain: r.hard for r in platform["rows"]}["gmail.example"] == 4
    chart = bounce_chart_svg(result["rows"])
    assert chart.startswith("<svg") and "gmail.example" in chart and "<script" not in chart


def test_the_chart_escapes_domains():
    from quarantine.reports import DomainRow

    assert "&lt;script&gt;" in bounce_chart_svg([DomainRow("<script>", hard=1)])


def test_the_platform_view_is_the_csms(as_csm, as_operator_a, tenant_a, tenant_b):
    entry(tenant_a, "a@one.example")
    entry(tenant_b, "b@two.example")
    platform = as_csm.get(BOUNCES, {"period": "all"}).content.decode()
    assert "one.example" in platform and "two.example" in platform and "whole platform" in platform
    mine = as_operator_a.get(BOUNCES, {"period": "all"}).content.decode()
    assert "one.example" in mine and "two.example" not in mine


def test_the_projection_panel_on_the_bounce_report(as_operator_a):
    html = as_operator_a.get(BOUNCES, {"lifetime": "3", "growth": "50", "years": "2"}).content.decode()
    assert "<td>1</td><td class=\"num\">22.0 %</td>" in html
    assert "<td>2</td><td class=\"num\">32.5 %</td>" in html
    bad = as_operator_a.get(BOUNCES, {"lifetime": "0", "growth": "50"}).content.decode()
    assert "The address lifetime is a number of years between 0.5 and 50." in bad


def test_a_csm_reads_every_tenants_delivery_report(as_csm, delivery):
    assert page(as_csm, delivery).status_code == 200
    assert "spring-sale" in as_csm.get(reverse("admin:quarantine_delivery_changelist")).content.decode()


def test_the_bounce_report_of_one_delivery(as_operator_a, as_operator_b, delivery, tenant_a):
    entry(tenant_a, "other@elsewhere.example", last_delivery_id="another")
    html = as_operator_a.get(BOUNCES, {"delivery": delivery.pk, "period": "all"}).content.decode()
    assert "<td>example.com</td>" in html and "elsewhere.example" not in html
    assert "delivery spring-sale" in html
    assert as_operator_b.get(BOUNCES, {"delivery": delivery.pk}).status_code == 404
    assert as_operator_a.get(BOUNCES, {"delivery": "x"}).status_code == 404


def test_an_excluded_target_links_to_its_contact(as_operator_a, delivery, tenant_a):
    from tests.quarantine.analysis_helpers import contact

    person = contact(tenant_a, "u1", email="old@example.com")
    html = page(as_operator_a, delivery).content.decode()
    assert f'<a href="{reverse("admin:mktops_contact_change", args=[person.pk])}">u1</a>' in html
    assert "<td>u2</td>" in html  # no contact known by this uid: no link


def test_quarantined_after_a_delivery_is_found_by_the_delivery_not_the_evidence(tenant_a, tenant_b, delivery, clock):
    """The address stays listed under the delivery that quarantined it after later reports of other
    deliveries have pushed that one out of its evidence; another tenant's delivery of the same id
    shows none of it; a repeated report adds no second row."""
    from quarantine.models import EVIDENCE_KEEP, EntryDelivery

    apply(tenant_a, report("gone@example.com", delivery_id="spring-sale"))  # the same report again
    assert EntryDelivery.objects.filter(delivery_id="spring-sale").count() == 2  # gone@, fresh@
    for n in range(EVIDENCE_KEEP + 2):
        clock.advance(timedelta(minutes=1))
        apply(tenant_a, report("gone@example.com", delivery_id=f"later-{n}"))
    gone = delivery_quarantined_after(delivery=delivery)[0]
    assert gone.last_delivery_id != "spring-sale"
    assert all(item["delivery_id"] != "spring-sale" for item in gone.evidence)
    assert [e.address for e in delivery_quarantined_after(delivery=delivery)] == ["gone@example.com"]
    apply(tenant_b, report("other@example.com", delivery_id="spring-sale"))
    assert [e.address for e in delivery_quarantined_after(delivery=delivery)] == ["gone@example.com"]


def test_the_migration_finds_the_deliveries_the_evidence_names(tenant_a, delivery):
    import importlib

    from django.apps import apps

    from quarantine.models import EntryDelivery

    migration = importlib.import_module("quarantine.migrations.0005_entry_deliveries")
    EntryDelivery.objects.all().delete()
    migration.from_evidence(apps, None)
    assert sorted(EntryDelivery.objects.values_list("entry__address", "delivery_id")) == [
        ("fresh@example.com", "spring-sale"), ("gone@example.com", "spring-sale")]
    assert [e.address for e in delivery_quarantined_after(delivery=delivery)] == ["gone@example.com"]
