"""Pages on one object, on every admin of the site: a bad `?_to_field` is a 400 (never a 500), and
the helper custom views use (`admin_base.object_view`) answers in an order that leaks nothing:
403 for who may not use the admin, 404 outside the user's tenants, 403 below the level, 405 for a
GET to a POST-only action."""

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE as LOG_CHANGE
from django.contrib.admin.models import LogEntry
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.urls import URLPattern, reverse

from mktops.admin import ApiKeyAdmin, ContactAdmin
from mktops.admin_base import CHANGE, CSM, VIEW, TenantScopedAdmin, object_view
from mktops.models import ApiKey, Contact

STOCK_OBJECT_VIEWS = ("change", "history", "delete")
BAD_TO_FIELDS = ("nope", "tenant", "pk", "tenant__name", "uid")


def object_urls(model_admin, object_id) -> list[str]:
    """The stock change/history/delete pages and every custom `<object_id>/…` URL of one admin."""
    info = f"{model_admin.opts.app_label}_{model_admin.opts.model_name}"
    urls = [reverse(f"admin:{info}_{view}", args=[object_id]) for view in STOCK_OBJECT_VIEWS]
    for pattern in model_admin.get_urls():
        route = str(pattern.pattern)
        if (isinstance(pattern, URLPattern) and pattern.name and "<path:object_id>/" in route
                and not pattern.name.endswith(STOCK_OBJECT_VIEWS)):
            urls.append(reverse(f"admin:{pattern.name}", args=[object_id]))
    return urls


@pytest.fixture
def personas(as_operator_a, as_support_a, as_csm):
    clients = {"operator": as_operator_a, "support": as_support_a, "csm": as_csm}
    for client in clients.values():
        client.raise_request_exception = False  # a 500 is counted, not raised
    return clients


@pytest.mark.parametrize("persona", ["operator", "support", "csm"])
@pytest.mark.parametrize("to_field", BAD_TO_FIELDS)
def test_a_bad_to_field_is_400_on_every_object_page_of_every_admin(personas, rows_a, persona, to_field):
    # the tenant's id as the object id: `_to_field=tenant` then matched several rows (500)
    client, object_id = personas[persona], rows_a.tenant.pk
    wrong = []
    for model_admin in admin.site._registry.values():
        for url in object_urls(model_admin, object_id):
            for method in ("get", "post"):
                status = getattr(client, method)(f"{url}?_to_field={to_field}").status_code
                if status != 400:
                    wrong.append((method, url, status))
    assert wrong == []


def test_an_allowed_to_field_still_finds_the_object_and_scopes_it(as_operator_a, as_operator_b, rows_a):
    url = reverse("admin:mktops_apikey_change", args=[rows_a.apikey.pk]) + "?_to_field=id"
    assert as_operator_a.get(url).status_code == 200
    assert as_operator_b.get(url).status_code == 404
    assert as_operator_b.post(url, {"name": "x"}).status_code == 404


# --- the helper itself, on a throwaway admin -------------------------------------------
class ProbeAdmin(ApiKeyAdmin):
    """Operators change API keys, support views them: the three levels are all distinct."""

    @object_view(level=VIEW)
    def look(self, request, obj):
        return obj

    @object_view(level=CHANGE, post_only=True)
    def poke(self, request, obj):
        self.log_change(request, obj, "Poked.")
        return obj

    @object_view(level=CSM, post_only=True)
    def repair(self, request, obj):
        return obj


@pytest.fixture
def probe():
    return ProbeAdmin(ApiKey, admin.site)


def call(rf, view, user, obj, method="post"):
    request = getattr(rf, method)("/")
    request.user = user
    return view(request, str(obj.pk))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("name", ["look", "poke", "repair"])
def test_another_tenants_object_is_404_before_any_permission_check(rf, probe, operator_b, rows_a, method, name):
    with pytest.raises(Http404):
        call(rf, getattr(probe, name), operator_b, rows_a.apikey, method)


def test_a_missing_object_is_404(rf, probe, csm, rows_a):
    request = rf.post("/")
    request.user = csm
    with pytest.raises(Http404):
        probe.poke(request, "987654")


def test_support_may_look_but_not_act(rf, probe, support_a, rows_a):
    assert call(rf, probe.look, support_a, rows_a.apikey, "get") == rows_a.apikey
    with pytest.raises(PermissionDenied):
        call(rf, probe.poke, support_a, rows_a.apikey)
    assert not LogEntry.objects.exists()


def test_csm_level_is_csm_only(rf, probe, operator_a, csm, rows_a):
    with pytest.raises(PermissionDenied):
        call(rf, probe.repair, operator_a, rows_a.apikey)
    assert call(rf, probe.repair, csm, rows_a.apikey) == rows_a.apikey


def test_a_get_to_a_post_only_action_is_405_and_does_nothing(rf, probe, operator_a, rows_a):
    response = call(rf, probe.poke, operator_a, rows_a.apikey, "get")
    assert response.status_code == 405 and response["Allow"] == "POST"
    assert not LogEntry.objects.exists()


def test_the_action_is_logged_in_the_objects_history(rf, probe, operator_a, rows_a):
    assert call(rf, probe.poke, operator_a, rows_a.apikey) == rows_a.apikey
    entry = LogEntry.objects.get()
    assert (entry.action_flag, entry.object_id, entry.user_id) == (LOG_CHANGE, str(rows_a.apikey.pk), operator_a.pk)
    assert entry.get_change_message() == "Poked."


def test_who_may_not_use_the_admin_gets_403_whatever_the_id(rf, support_a, rows_a, rows_b):
    class SupportLess(TenantScopedAdmin):
        view_roles = ("operator", "csm")

        @object_view(level=VIEW)
        def look(self, request, obj):
            return obj

    probe = SupportLess(Contact, admin.site)
    for contact in (rows_a.contact, rows_b.contact):
        with pytest.raises(PermissionDenied):
            call(rf, probe.look, support_a, contact, "get")


def test_the_contact_profile_uses_the_helper(as_operator_b, as_support_a, rows_a):
    url = reverse("admin:mktops_contact_change", args=[rows_a.contact.pk])
    assert as_support_a.get(url).status_code == 200
    assert as_operator_b.get(url).status_code == 404
    assert isinstance(admin.site._registry[Contact], ContactAdmin)
