"""The channel pages for each persona: operators create, edit and delete; CSMs unbind (and see
every tenant); support sees channels read-only and never a secret; another tenant gets 404 for
every page and action. The create page explains each type; the admin's own delete paths cannot
get round the delete rules; the menu entry follows the service-provider entitlement."""

import pytest
from django.urls import reverse

from channels.models import Channel, ChannelState
from channels.services import lifecycle as svc
from channels.services.menu import CUSTOMER_MANAGEMENT
from mktops.models import AuditLog, EntitlementChange
from tests.channels.lifecycle_helpers import make_channel, put_in_state
from tests.mktops.test_entitlements import form_data

pytestmark = pytest.mark.django_db

OBJECT_PAGES = ("change", "bind", "rebind", "unbind", "delete", "history")


def url(name, *args):
    return reverse(f"admin:channels_channel_{name}", args=args)


@pytest.fixture
def channel(tenant_a, operator_a):
    return make_channel(tenant_a, by=operator_a)


# --- create ---------------------------------------------------------------------------------------
def test_the_create_page_explains_every_type_and_asks_to_confirm_the_prerequisite(as_operator_a, tenant_a):
    page = as_operator_a.get(url("add")).content.decode()
    for label in ("Channel type", "Channel name", "Remarks"):
        assert label in page
    assert "WABA" in page and "business verification" in page            # WhatsApp
    assert "a Viber business account (bot)" in page                          # Viber: no prerequisite
    assert "linked to a Facebook Page" in page                               # Instagram
    assert "SPF and DKIM" in page and "sender ID is registered" in page     # Email, SMS
    assert "I confirm the prerequisite" in page
    assert "Tenant A: 0 of 100 channels" in page


def test_operator_creates_a_channel_and_lands_on_its_page(as_operator_a, tenant_a, operator_a):
    response = as_operator_a.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "whatsapp",
                                               "name": "Orders", "remarks": "EU number",
                                               "prerequisite_confirmed": "on"})
    channel = Channel.objects.get()
    assert response.status_code == 302 and response["Location"] == url("change", channel.pk)
    assert (channel.name, channel.state, channel.created_by) == ("Orders", "unbound", operator_a)
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert "Unbound" in page and "cannot send" in page and channel.public_id in page


def test_create_errors_are_shown_beside_their_fields(as_operator_a, tenant_a):
    response = as_operator_a.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "whatsapp",
                                               "name": "x" * 51, "remarks": "y" * 151})
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["name"] == [svc.ERR_NAME_TOO_LONG.format(limit=50, length=51)]
    assert errors["remarks"] == [svc.ERR_REMARKS_TOO_LONG.format(limit=150, length=151)]
    assert "prerequisite_confirmed" in errors
    response = as_operator_a.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "fax", "name": "x"})
    assert response.context["form"].errors["channel_type"] == [svc.ERR_TYPE]
    assert not Channel.objects.exists()


def test_the_quota_refusal_is_shown_on_the_create_page(as_operator_a, tenant_a):
    tenant_a.channel_quota = 0
    tenant_a.save()
    response = as_operator_a.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "viber", "name": "x"})
    assert response.status_code == 200
    assert svc.ERR_QUOTA.format(count=0, quota=0) in response.content.decode()


def test_an_operator_cannot_create_in_another_tenant(as_operator_b, tenant_a, operator_b):
    response = as_operator_b.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "viber", "name": "x"})
    assert response.status_code == 200 and "tenant" in response.context["form"].errors
    assert not Channel.objects.exists()


def test_support_cannot_create(as_support_a, tenant_a):
    assert as_support_a.get(url("add")).status_code == 403
    assert as_support_a.post(url("add"), {"tenant": tenant_a.pk, "channel_type": "viber",
                                          "name": "x"}).status_code == 403
    assert not Channel.objects.exists()


# --- edit -----------------------------------------------------------------------------------------
def test_operator_edits_name_and_remarks_with_the_limits_beside_the_fields(as_operator_a, channel):
    response = as_operator_a.post(url("change", channel.pk), {"name": "z" * 51, "remarks": "",
                                                               "history-TOTAL_FORMS": "0",
                                                               "history-INITIAL_FORMS": "0"})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"] == [svc.ERR_NAME_TOO_LONG.format(limit=50, length=51)]
    response = as_operator_a.post(url("change", channel.pk), {"name": "Renamed", "remarks": "ok",
                                                               "history-TOTAL_FORMS": "0",
                                                               "history-INITIAL_FORMS": "0"})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert (channel.name, channel.remarks) == ("Renamed", "ok")
    assert AuditLog.objects.filter(action="channel.edit").count() == 1


# --- personas on every page -----------------------------------------------------------------------
@pytest.mark.parametrize("page", OBJECT_PAGES)
def test_another_tenant_gets_404_for_every_page_and_action(as_operator_b, channel, page):
    assert as_operator_b.get(url(page, channel.pk)).status_code == 404
    assert as_operator_b.post(url(page, channel.pk), {"confirm_name": channel.name, "name": "x"}).status_code == 404
    channel.refresh_from_db()
    assert channel.name == "Support line"


def test_another_tenant_does_not_see_the_channel_in_the_list_or_search(as_operator_b, channel):
    page = as_operator_b.get(url("changelist") + "?q=Support").content.decode()
    assert channel.public_id not in page


@pytest.mark.parametrize("page", ("bind", "rebind", "unbind", "delete"))
def test_support_cannot_use_any_action(as_support_a, channel, page):
    put_in_state(channel, ChannelState.BOUND)
    assert as_support_a.get(url(page, channel.pk)).status_code == 403
    assert as_support_a.post(url(page, channel.pk), {"confirm_name": channel.name}).status_code == 403
    channel.refresh_from_db()
    assert channel.state == ChannelState.BOUND


def test_support_sees_the_channel_read_only_without_credentials(as_support_a, channel):
    Channel.objects.filter(pk=channel.pk).update(
        credentials='{"phone_number_id": "106540352242922", "waba_id": "102290129340398", '
                    '"access_token": "EAAG-very-secret-token-1234"}', state="bound", account_id="106540352242922")
    response = as_support_a.get(url("change", channel.pk))
    page = response.content.decode()
    assert response.status_code == 200 and channel.public_id in page
    assert "EAAG-very-secret-token-1234" not in page and "••••" not in page
    assert 'id="bind"' not in page and 'id="unbind"' not in page and "deletelink" not in page
    response = as_support_a.post(url("change", channel.pk), {"name": "hacked", "remarks": ""})
    assert response.status_code == 403
    channel.refresh_from_db()
    assert channel.name == "Support line"


def test_support_sees_the_list_read_only(as_support_a, channel):
    page = as_support_a.get(url("changelist")).content.decode()
    assert channel.public_id in page and url("add") not in page


def test_the_admin_delete_methods_refuse_without_the_typed_name(channel, operator_a, rf):
    from django.contrib import admin
    from django.core.exceptions import PermissionDenied

    model_admin = admin.site._registry[Channel]
    request = rf.post("/")
    request.user = operator_a
    with pytest.raises(PermissionDenied):
        model_admin.delete_queryset(request, Channel.objects.all())
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_support_cannot_filter_or_search_on_the_credentials(as_support_a, channel):
    assert as_support_a.get(url("changelist") + "?credentials__contains=EAAG").status_code == 400


@pytest.mark.parametrize("state", [ChannelState.BOUND, ChannelState.BINDING, ChannelState.BIND_FAILED])
def test_only_a_csm_unbinds_and_sees_the_traffic_first(as_operator_a, as_csm, channel, csm, state):
    put_in_state(channel, state)
    assert as_operator_a.get(url("unbind", channel.pk)).status_code == 403
    assert as_operator_a.post(url("unbind", channel.pk)).status_code == 403
    page = as_csm.get(url("unbind", channel.pk)).content.decode()
    assert "What still uses the channel (last 7 days)" in page
    response = as_csm.post(url("unbind", channel.pk), {"reason": "account manager request"})
    assert response.status_code == 302
    channel.refresh_from_db()
    assert channel.state == ChannelState.UNBOUND
    assert channel.history.first().by == csm


def test_the_channel_page_offers_each_action_to_whom_it_belongs(as_operator_a, as_csm, channel):
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert 'id="bind"' in page and 'id="unbind"' not in page and "deletelink" in page
    put_in_state(channel, ChannelState.BOUND)
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert 'id="rebind"' in page and 'id="bind"' not in page
    page = as_csm.get(url("change", channel.pk)).content.decode()
    assert 'id="unbind"' in page


def test_links_to_the_platform_pages_appear_only_when_they_exist(as_operator_a, channel):
    from django.urls import NoReverseMatch

    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    for name in ("health", "report", "test_send"):
        try:
            target = reverse(f"admin:channels_channel_{name}", args=[channel.pk])
        except NoReverseMatch:
            assert f"link-channels_channel_{name}" not in page
        else:
            assert target in page


# --- delete through the admin ---------------------------------------------------------------------
@pytest.mark.parametrize("state", [ChannelState.BOUND, ChannelState.BINDING])
def test_the_admin_delete_page_refuses_a_channel_with_an_account(as_operator_a, channel, state):
    put_in_state(channel, state)
    response = as_operator_a.get(url("delete", channel.pk))
    assert svc.ERR_DELETE_STATE.format(state=channel.get_state_display()) in response.content.decode()
    response = as_operator_a.post(url("delete", channel.pk), {"confirm_name": channel.name, "post": "yes"})
    assert response.status_code == 200 and "unbound first, by a CSM" in response.content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_the_bulk_delete_action_is_not_offered_and_cannot_be_posted(as_operator_a, channel):
    page = as_operator_a.get(url("changelist")).content.decode()
    assert "delete_selected" not in page
    as_operator_a.post(url("changelist"), {"action": "delete_selected", "_selected_action": [channel.pk],
                                           "post": "yes"})
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_the_admin_delete_page_needs_the_typed_name(as_operator_a, channel, operator_a):
    response = as_operator_a.post(url("delete", channel.pk), {"confirm_name": "wrong", "post": "yes"})
    assert response.context["error"] == svc.ERR_DELETE_CONFIRM.format(name=channel.name)
    assert 'id="delete-error"' in response.content.decode()
    assert Channel.objects.filter(pk=channel.pk).exists()
    response = as_operator_a.post(url("delete", channel.pk), {"confirm_name": channel.name})
    assert response.status_code == 302 and not Channel.objects.exists()
    assert AuditLog.objects.filter(action="channel.delete", user=operator_a).count() == 1


# --- the menu entry -------------------------------------------------------------------------------
def test_a_service_provider_sees_customer_management(as_operator_a, as_csm, tenant_a, csm):
    assert "Channel management" in as_operator_a.get("/admin/").content.decode()
    response = as_csm.get(reverse("admin:mktops_tenant_change", args=[tenant_a.pk]))
    data = form_data(response)
    data["service_provider"] = "on"
    assert as_csm.post(reverse("admin:mktops_tenant_change", args=[tenant_a.pk]), data).status_code == 302
    change = EntitlementChange.objects.get(tenant=tenant_a, field="service_provider")
    assert (change.old_value, change.new_value, change.changed_by) == ("False", "True", csm)
    page = as_operator_a.get("/admin/").content.decode()
    assert CUSTOMER_MANAGEMENT in page and "Channel management" not in page
    # the breadcrumbs of the channel pages say it too
    channel = make_channel(tenant_a)
    for target in (url("changelist"), url("add"), url("change", channel.pk), url("bind", channel.pk),
                   url("delete", channel.pk)):
        page = as_operator_a.get(target).content.decode()
        assert CUSTOMER_MANAGEMENT in page and "Channel management" not in page, target
    # CSMs see every tenant: their menu keeps the feature's own name
    assert "Channel management" in as_csm.get("/admin/").content.decode()


def test_only_csms_set_the_service_provider_entitlement(as_operator_a, tenant_a):
    response = as_operator_a.post(reverse("admin:mktops_tenant_change", args=[tenant_a.pk]),
                                  {"service_provider": "on", "name": tenant_a.name})
    assert response.status_code == 403
    tenant_a.refresh_from_db()
    assert not tenant_a.service_provider
