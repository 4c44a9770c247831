"""Entitlements: only CSMs change them; every change is recorded and shown on the tenant page."""

from datetime import date

import pytest
from django.forms import BooleanField
from django.urls import reverse

from mktops import services
from mktops.models import EntitlementChange, Tenant


def change_url(tenant):
    return reverse("admin:mktops_tenant_change", args=[tenant.pk])


def form_data(response) -> dict:
    """The POST a browser would send for the form as rendered (unchanged)."""
    data = {}
    form = response.context["adminform"].form
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, BooleanField):
            if value:
                data[name] = "on"
        elif value is not None:
            data[name] = str(value)
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
    return data


@pytest.fixture
def tenant_form(as_csm, tenant_a):
    response = as_csm.get(change_url(tenant_a))
    assert response.status_code == 200
    return form_data(response)


def test_csm_changes_entitlements_and_each_change_is_recorded(as_csm, csm, tenant_a, tenant_form):
    tenant_form.update({
        "archive_enabled": "on", "channel_quota": "250", "event_retention_days": "90",
        "webhook_zone1_enabled": "on", "webhook_zone1_purchase_start": "2026-01-01",
        "webhook_zone1_purchase_end": "2026-12-31",
    })
    response = as_csm.post(change_url(tenant_a), tenant_form)
    assert response.status_code == 302, response.context["adminform"].form.errors

    tenant_a.refresh_from_db()
    assert tenant_a.archive_enabled and tenant_a.channel_quota == 250
    assert tenant_a.webhook_zone1_purchase_end == date(2026, 12, 31)
    changes = {c.field: c for c in EntitlementChange.objects.filter(tenant=tenant_a)}
    assert set(changes) == {"archive_enabled", "channel_quota", "event_retention_days", "webhook_zone1_enabled",
                            "webhook_zone1_purchase_start", "webhook_zone1_purchase_end"}
    quota = changes["channel_quota"]
    assert (quota.old_value, quota.new_value, quota.changed_by) == ("100", "250", csm)
    assert quota.changed_at is not None
    assert (changes["webhook_zone1_purchase_start"].old_value,
            changes["webhook_zone1_purchase_start"].new_value) == ("", "2026-01-01")


def test_the_history_is_shown_on_the_tenant_page(as_csm, as_operator_a, csm, tenant_a, tenant_form):
    tenant_form["channel_quota"] = "321"
    as_csm.post(change_url(tenant_a), tenant_form)
    for client in (as_csm, as_operator_a):
        page = client.get(change_url(tenant_a)).content.decode()
        assert "Entitlement history" in page
        assert "channel_quota" in page and "321" in page and csm.username in page


def test_a_save_without_changes_records_nothing(as_csm, tenant_a, tenant_form):
    assert as_csm.post(change_url(tenant_a), tenant_form).status_code == 302
    assert not EntitlementChange.objects.filter(tenant=tenant_a).exists()


def test_renaming_a_tenant_is_not_an_entitlement_change(as_csm, tenant_a, tenant_form):
    tenant_form["name"] = "Tenant A Ltd"
    as_csm.post(change_url(tenant_a), tenant_form)
    tenant_a.refresh_from_db()
    assert tenant_a.name == "Tenant A Ltd"
    assert not EntitlementChange.objects.filter(tenant=tenant_a).exists()


@pytest.mark.parametrize("persona", ["as_operator_a", "as_support_a"])
def test_operators_and_support_cannot_change_entitlements(request, persona, tenant_a, tenant_form):
    client = request.getfixturevalue(persona)
    assert client.get(change_url(tenant_a)).status_code == 200  # they may read them
    tenant_form.update({"archive_enabled": "on", "channel_quota": "9999"})
    assert client.post(change_url(tenant_a), tenant_form).status_code == 403
    tenant_a.refresh_from_db()
    assert not tenant_a.archive_enabled and tenant_a.channel_quota == 100
    assert not EntitlementChange.objects.exists()


def test_operator_sees_entitlements_read_only(as_operator_a, tenant_a):
    response = as_operator_a.get(change_url(tenant_a))
    assert not response.context["adminform"].form.fields  # every field rendered read-only
    assert 'name="_save"' not in response.content.decode()


@pytest.mark.parametrize("field", ["event_retention_days", "archive_file_retention_days"])
def test_retention_of_zero_days_is_refused(as_csm, tenant_a, tenant_form, field):
    tenant_form[field] = "0"
    response = as_csm.post(change_url(tenant_a), tenant_form)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors


def test_tenant_save_entitlements_service(tenant_a, csm):
    before = services.tenant_entitlements(tenant_a)
    tenant_a.s3_export_enabled = True
    tenant_a.archive_sms = False
    changes = services.tenant_save_entitlements(tenant=tenant_a, before=before, by=csm)
    assert sorted((c.field, c.old_value, c.new_value) for c in changes) == [
        ("archive_sms", "True", "False"), ("s3_export_enabled", "False", "True")]
    assert Tenant.objects.get(pk=tenant_a.pk).s3_export_enabled


def test_archives_channel_follows_the_entitlements(tenant_a):
    assert not tenant_a.archives_channel("email")
    tenant_a.archive_enabled = True
    tenant_a.archive_push = False
    assert tenant_a.archives_channel("email") and not tenant_a.archives_channel("push")
