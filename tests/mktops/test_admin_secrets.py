"""Secret fields of a tenant-scoped admin: masked from support everywhere the admin could print them."""

import pytest
from django.contrib import admin

from mktops.admin_base import TenantScopedAdmin
from mktops.ingest import events_ingest
from mktops.models import Contact
from tests.conftest import make_event


class SecretContactAdmin(TenantScopedAdmin):
    """A stand-in for a feature admin: the email plays the secret."""

    secret_fields = ("email",)
    fieldsets = ((None, {"fields": ("uid", ("email", "mobile_number"))}),
                 ("More", {"fields": ("attributes",)}))
    readonly_fields = ("uid", "email")
    list_display = ("uid", "email")
    search_fields = ("uid", "=email")
    list_filter = ("tenant",)


@pytest.fixture
def model_admin():
    return SecretContactAdmin(Contact, admin.site)


@pytest.fixture
def contact(tenant_a):
    events_ingest(tenant=tenant_a, items=[make_event(1, uid="kim", email_id="hidden.value@example.com",
                                                     mobile_number="+15550999")])
    return Contact.objects.get(uid="kim")


def _request(rf, user):
    request = rf.get("/")
    request.user = user
    return request


def _fields(fieldsets):
    return [f for _, options in fieldsets for item in options["fields"]
            for f in (item if isinstance(item, tuple) else (item,))]


def test_support_never_gets_a_secret_field(rf, model_admin, support_a, contact):
    request = _request(rf, support_a)
    assert "email" not in _fields(model_admin.get_fieldsets(request, contact))
    assert "mobile_number" in _fields(model_admin.get_fieldsets(request, contact))
    assert "email" not in model_admin.get_readonly_fields(request, contact)
    assert "email" not in model_admin.get_list_display(request)
    assert model_admin.get_search_fields(request) == ["uid"]
    assert "email" in model_admin.get_exclude(request, contact)


def test_the_operator_of_the_tenant_sees_the_secret_field(rf, model_admin, operator_a, contact):
    request = _request(rf, operator_a)
    assert "email" in _fields(model_admin.get_fieldsets(request, contact))
    assert "email" in model_admin.get_readonly_fields(request, contact)
    assert "email" not in model_admin.get_list_display(request)  # never in a list


def test_the_rendered_page_does_not_print_the_secret_to_support(rf, model_admin, support_a, operator_a, contact):
    support_page = model_admin.change_view(_request(rf, support_a), str(contact.pk))
    support_page.render()
    assert support_page.status_code == 200
    assert "hidden.value@example.com" not in support_page.content.decode()
    assert "+15550999" in support_page.content.decode()

    operator_page = model_admin.change_view(_request(rf, operator_a), str(contact.pk))
    operator_page.render()
    assert "hidden.value@example.com" in operator_page.content.decode()


def test_lookups_and_search_on_the_secret_are_refused(rf, model_admin, csm):
    request = _request(rf, csm)
    assert not model_admin.lookup_allowed("email", "x", request)
    assert not model_admin.lookup_allowed("email__icontains", "x", request)
    assert model_admin.lookup_allowed("uid", "x", request)
