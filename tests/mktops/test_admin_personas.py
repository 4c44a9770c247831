"""Every core admin page, seen by each persona: operator A, support A, operator B, CSM.

Operator B gets 404 on tenant A's objects; support gets 403 on every write;
changelists, choices, filters and search stay inside the user's tenants.
"""

import pytest
from django.contrib import admin
from django.test import Client
from django.urls import NoReverseMatch, reverse

from mktops import services
from mktops.admin_base import TenantScopedAdmin
from mktops.models import ApiKey, Role, Tenant

CORE = ["tenant", "membership", "apikey", "auditlog", "contact", "event", "eventname"]
# what customer support may open at all
SUPPORT_VIEWS = {"tenant", "apikey", "contact", "event"}
THIRD_PARTY = ["auth_user", "auth_group", "django_q_schedule", "django_q_success", "django_q_failure",
               "django_q_ormq"]


def url(model, view, *args):
    return reverse(f"admin:mktops_{model}_{view}", args=args)


def obj_url(rows, model, view):
    return url(model, view, rows.of(model).pk)


def third_party_changelists():
    out = []
    for name in THIRD_PARTY:
        try:
            out.append(reverse(f"admin:{name}_changelist"))
        except NoReverseMatch:  # django-q2 registers its queue only with the ORM broker
            continue
    return out


# --- operator B and tenant A's objects ---------------------------------------
OBJECT_REQUESTS = [("change", "get"), ("change", "post"), ("history", "get"), ("delete", "get"),
                   ("delete", "post")]


@pytest.mark.parametrize("model", CORE)
@pytest.mark.parametrize("view, method", OBJECT_REQUESTS)
def test_operator_b_gets_404_on_every_tenant_a_object(as_operator_b, rows_a, rows_b, model, view, method):
    response = getattr(as_operator_b, method)(obj_url(rows_a, model, view))
    assert response.status_code == 404


@pytest.mark.parametrize("model", CORE)
def test_a_missing_id_is_404_not_a_redirect(as_csm, model):
    assert as_csm.get(url(model, "change", 987654)).status_code == 404
    assert as_csm.get(url(model, "history", 987654)).status_code == 404
    assert as_csm.get(url(model, "delete", 987654)).status_code == 404


# --- support writes nothing ---------------------------------------------------
@pytest.mark.parametrize("model", CORE)
def test_support_gets_403_on_every_write(as_support_a, rows_a, model):
    assert as_support_a.post(url(model, "add"), {"name": "x"}).status_code == 403
    assert as_support_a.post(obj_url(rows_a, model, "change"), {"name": "x"}).status_code == 403
    assert as_support_a.post(obj_url(rows_a, model, "delete"), {"post": "yes"}).status_code == 403


def test_support_writes_left_everything_as_it_was(as_support_a, rows_a):
    as_support_a.post(obj_url(rows_a, "tenant", "change"), {"name": "Renamed", "channel_quota": 5})
    as_support_a.post(obj_url(rows_a, "apikey", "delete"), {"post": "yes"})
    rows_a.tenant.refresh_from_db()
    assert rows_a.tenant.name == "Tenant A" and rows_a.tenant.channel_quota == 100
    assert ApiKey.objects.filter(pk=rows_a.apikey.pk).exists()


@pytest.mark.parametrize("model", sorted(SUPPORT_VIEWS))
def test_support_views_its_own_tenant_objects(as_support_a, rows_a, model):
    assert as_support_a.get(url(model, "changelist")).status_code == 200
    assert as_support_a.get(obj_url(rows_a, model, "change")).status_code == 200
    assert as_support_a.get(obj_url(rows_a, model, "history")).status_code == 200


@pytest.mark.parametrize("model", sorted(set(CORE) - SUPPORT_VIEWS))
def test_pages_support_may_not_use_are_403(as_support_a, rows_a, model):
    assert as_support_a.get(url(model, "changelist")).status_code == 403
    assert as_support_a.get(obj_url(rows_a, model, "change")).status_code == 403
    assert as_support_a.get(obj_url(rows_a, model, "history")).status_code == 403


# --- operators: what their role forbids --------------------------------------
@pytest.mark.parametrize("model", ["tenant", "membership", "auditlog", "contact", "event", "eventname"])
def test_operator_may_not_write_csm_or_system_rows(as_operator_a, rows_a, model):
    assert as_operator_a.get(obj_url(rows_a, model, "change")).status_code == 200
    assert as_operator_a.post(obj_url(rows_a, model, "change"), {"name": "x"}).status_code == 403
    assert as_operator_a.post(url(model, "add"), {"name": "x"}).status_code == 403
    assert as_operator_a.post(obj_url(rows_a, model, "delete"), {"post": "yes"}).status_code == 403


def test_nobody_deletes_an_api_key_it_is_revoked_instead(as_operator_a, as_csm, rows_a):
    assert as_operator_a.post(obj_url(rows_a, "apikey", "delete"), {"post": "yes"}).status_code == 403
    assert as_csm.post(obj_url(rows_a, "apikey", "delete"), {"post": "yes"}).status_code == 403
    assert ApiKey.objects.filter(pk=rows_a.apikey.pk).exists()


@pytest.mark.parametrize("changelist", [pytest.param(u, id=u) for u in ["auth_user", "auth_group",
                                                                        "django_q_schedule",
                                                                        "django_q_success",
                                                                        "django_q_failure"]])
def test_users_groups_and_task_pages_are_csm_only(as_operator_a, as_support_a, as_csm, changelist):
    path = reverse(f"admin:{changelist}_changelist")
    assert as_operator_a.get(path).status_code == 403
    assert as_support_a.get(path).status_code == 403
    assert as_csm.get(path).status_code == 200


def test_operator_cannot_open_or_edit_a_user(as_operator_a, operator_b):
    path = reverse("admin:auth_user_change", args=[operator_b.pk])
    assert as_operator_a.get(path).status_code == 403
    assert as_operator_a.post(path, {"username": "x", "is_superuser": "on"}).status_code == 403
    operator_b.refresh_from_db()
    assert not operator_b.is_superuser


# --- changelists ----------------------------------------------------------------
@pytest.mark.parametrize("model", CORE)
def test_operator_changelist_shows_only_their_tenant(as_operator_a, rows_a, rows_b, model):
    page = as_operator_a.get(url(model, "changelist")).content.decode()
    assert obj_url(rows_a, model, "change") in page
    assert obj_url(rows_b, model, "change") not in page


@pytest.mark.parametrize("model", sorted(SUPPORT_VIEWS))
def test_support_changelist_shows_only_their_tenant(as_support_a, rows_a, rows_b, model):
    page = as_support_a.get(url(model, "changelist")).content.decode()
    assert obj_url(rows_a, model, "change") in page
    assert obj_url(rows_b, model, "change") not in page


@pytest.mark.parametrize("model", CORE)
def test_csm_sees_every_tenant(as_csm, rows_a, rows_b, model):
    page = as_csm.get(url(model, "changelist")).content.decode()
    assert obj_url(rows_a, model, "change") in page
    assert obj_url(rows_b, model, "change") in page
    assert as_csm.get(obj_url(rows_b, model, "change")).status_code == 200


# --- the tenant filter and lookups --------------------------------------------
@pytest.mark.parametrize("model", ["apikey", "auditlog", "contact", "event", "eventname", "membership"])
def test_filtering_on_another_tenant_is_refused(as_operator_a, rows_a, rows_b, model):
    assert as_operator_a.get(url(model, "changelist"), {"tenant": rows_b.tenant.pk}).status_code == 400
    own = as_operator_a.get(url(model, "changelist"), {"tenant": rows_a.tenant.pk})
    assert own.status_code == 200
    assert obj_url(rows_a, model, "change") in own.content.decode()


@pytest.mark.parametrize("lookup", ["tenant__id__exact", "tenant__slug", "tenant__id__in", "tenant__name"])
def test_tenant_lookups_on_other_tenants_are_refused(as_operator_a, rows_a, rows_b, lookup):
    value = rows_b.tenant.slug if lookup.endswith("slug") else str(rows_b.tenant.pk)
    if lookup.endswith("__in"):
        value = f"{rows_a.tenant.pk},{rows_b.tenant.pk}"
    assert as_operator_a.get(url("contact", "changelist"), {lookup: value}).status_code == 400


def test_csm_may_filter_on_any_tenant(as_csm, rows_a, rows_b):
    page = as_csm.get(url("contact", "changelist"), {"tenant": rows_b.tenant.pk}).content.decode()
    assert obj_url(rows_b, "contact", "change") in page
    assert obj_url(rows_a, "contact", "change") not in page


def test_the_tenant_filter_offers_only_the_users_tenants(as_operator_a, rows_a, rows_b):
    page = as_operator_a.get(url("event", "changelist")).content.decode()
    assert f"?tenant={rows_a.tenant.pk}" in page
    assert f"?tenant={rows_b.tenant.pk}" not in page


def test_lookups_on_secret_fields_are_refused(as_csm, rows_a):
    assert as_csm.get(url("apikey", "changelist"), {"key_hash__startswith": "a"}).status_code == 400
    assert as_csm.get(url("apikey", "changelist"), {"key_hash": rows_a.apikey.key_hash}).status_code == 400


def test_every_tenant_scoped_admin_refuses_lookups_on_its_secrets(rf, csm):
    request = rf.get("/")
    request.user = csm
    for model, model_admin in admin.site._registry.items():
        if not isinstance(model_admin, TenantScopedAdmin):
            continue
        assert model_admin.get_list_display(request)  # renders without the secrets
        for secret in model_admin.secret_fields:
            assert not model_admin.lookup_allowed(secret, "x", request), (model, secret)
            assert not model_admin.lookup_allowed(f"{secret}__startswith", "x", request), (model, secret)
            assert secret not in model_admin.get_list_display(request)
            assert all(f.lstrip("=^@") != secret for f in model_admin.get_search_fields(request))


# --- search ---------------------------------------------------------------------
def test_search_results_stay_in_the_users_tenants(as_operator_a, as_csm, rows_a, rows_b):
    path = url("contact", "changelist")
    assert obj_url(rows_b, "contact", "change") not in as_operator_a.get(path, {"q": "bravo-contact"}).content.decode()
    assert obj_url(rows_b, "contact", "change") in as_csm.get(path, {"q": "bravo-contact"}).content.decode()
    events = as_operator_a.get(url("event", "changelist"), {"q": "bravo-uuid-1"}).content.decode()
    assert obj_url(rows_b, "event", "change") not in events
    names = as_operator_a.get(url("eventname", "changelist"), {"q": "bravo"}).content.decode()
    assert obj_url(rows_b, "eventname", "change") not in names


# --- foreign-key choices --------------------------------------------------------
def _choices(response, field):
    return {str(value) for value, _ in response.context["adminform"].form.fields[field].choices if value != ""}


def test_add_form_offers_only_the_operators_tenants(as_operator_a, rows_a, rows_b):
    response = as_operator_a.get(url("apikey", "add"))
    assert _choices(response, "tenant") == {str(rows_a.tenant.pk)}


def test_csm_add_forms_offer_every_tenant(as_csm, rows_a, rows_b):
    assert _choices(as_csm.get(url("apikey", "add")), "tenant") == {str(rows_a.tenant.pk), str(rows_b.tenant.pk)}
    assert _choices(as_csm.get(url("membership", "add")), "tenant") == {str(rows_a.tenant.pk),
                                                                        str(rows_b.tenant.pk)}


def test_a_forged_choice_of_another_tenant_is_a_form_error(as_operator_a, rows_b):
    response = as_operator_a.post(url("apikey", "add"), {"tenant": rows_b.tenant.pk, "name": "forged"})
    assert response.status_code == 200
    assert "tenant" in response.context["adminform"].form.errors
    assert not ApiKey.objects.filter(name="forged").exists()


@pytest.fixture
def operator_a_support_b(tenant_a, tenant_b):
    """Olga operates tenant A and is customer support of tenant B."""
    services.user_create(username="olga-mixed", password="persona-password-123", role=Role.OPERATOR,
                         tenant=tenant_a)
    user = services.user_create(username="olga-mixed", password="persona-password-123", role=Role.SUPPORT,
                         tenant=tenant_b)
    client = Client()
    client.force_login(user)
    return client


def test_a_mixed_role_user_writes_only_where_they_operate(operator_a_support_b, rows_a, rows_b):
    client = operator_a_support_b
    response = client.get(url("apikey", "changelist"))
    assert response.status_code == 200, response
    page = response.content.decode()
    assert obj_url(rows_a, "apikey", "change") in page and obj_url(rows_b, "apikey", "change") in page
    assert _choices(client.get(url("apikey", "add")), "tenant") == {str(rows_a.tenant.pk)}
    assert client.post(obj_url(rows_b, "apikey", "change"), {}).status_code == 403
    client.post(url("apikey", "changelist"), {
        "action": "revoke", "_selected_action": [rows_a.apikey.pk, rows_b.apikey.pk]})
    rows_a.apikey.refresh_from_db()
    rows_b.apikey.refresh_from_db()
    assert rows_a.apikey.revoked_at is not None
    assert rows_b.apikey.revoked_at is None


# --- the index and the site -------------------------------------------------------
def _links(client):
    response = client.get(reverse("admin:index"))
    assert response.status_code == 200
    return {m["admin_url"] for app in response.context["app_list"] for m in app["models"]}, response


def test_index_for_support_lists_only_what_support_uses(as_support_a, rows_a):
    links, response = _links(as_support_a)
    assert links == {url(m, "changelist") for m in SUPPORT_VIEWS} | {
        u for u in links if not u.startswith("/admin/mktops/")}
    assert not links & set(third_party_changelists())
    assert all(not m["add_url"] for app in response.context["app_list"] for m in app["models"]
               if m["admin_url"].startswith("/admin/mktops/"))


def test_index_for_operator(as_operator_a, rows_a):
    links, response = _links(as_operator_a)
    assert {url(m, "changelist") for m in CORE} <= links
    assert not links & set(third_party_changelists())
    adds = {m["admin_url"] for app in response.context["app_list"] for m in app["models"] if m["add_url"]}
    assert url("apikey", "changelist") in adds
    assert url("tenant", "changelist") not in adds


def test_index_for_csm_lists_everything(as_csm):
    links, _ = _links(as_csm)
    assert {url(m, "changelist") for m in CORE} <= links
    assert set(third_party_changelists()) <= links


def test_index_is_grouped_by_app_and_branded(as_csm):
    response = as_csm.get(reverse("admin:index"))
    labels = [app["app_label"] for app in response.context["app_list"]]
    assert labels == sorted(labels, key=lambda label: dict(
        (a["app_label"], a["name"]) for a in response.context["app_list"])[label].lower())
    assert "mktops" in labels
    assert "<title>" in response.content.decode() and "mktops" in response.content.decode()


def test_signed_out_users_are_sent_to_the_login_page(client):
    response = client.get(url("contact", "changelist"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_a_staff_user_without_a_role_cannot_use_the_console(django_user_model, tenant_a):
    nobody = django_user_model.objects.create_user("nobody", password="persona-password-123", is_staff=True)
    client = Client()
    client.force_login(nobody)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_superusers_are_csms(admin_client, tenant_a, tenant_b):
    page = admin_client.get(url("tenant", "changelist")).content.decode()
    assert url("tenant", "change", tenant_a.pk) in page and url("tenant", "change", tenant_b.pk) in page
    assert admin_client.get(url("tenant", "add")).status_code == 200


def test_csm_can_add_a_tenant_in_the_admin(as_csm):
    response = as_csm.post(url("tenant", "add"), {
        "name": "Tenant C", "slug": "tenant-c", "db_name": "tenant_c", "channel_quota": 100,
        "webhook_endpoint_quota": 3,
        "event_retention_days": 30, "archive_file_retention_days": 365,
        "entitlement_changes-TOTAL_FORMS": 0, "entitlement_changes-INITIAL_FORMS": 0,
    })
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Tenant.objects.filter(slug="tenant-c").exists()


def test_user_autocomplete_is_csm_only(as_operator_a, as_csm, operator_b):
    params = {"app_label": "mktops", "model_name": "membership", "field_name": "user", "term": "bob"}
    assert as_operator_a.get(reverse("admin:autocomplete"), params).status_code == 403
    found = as_csm.get(reverse("admin:autocomplete"), params).json()["results"]
    assert [r["text"] for r in found] == [operator_b.username]


@pytest.mark.parametrize("role, with_tenant", [("csm", True), ("operator", False)])
def test_a_membership_that_breaks_the_role_rule_is_a_form_error(as_csm, operator_b, tenant_a, role, with_tenant):
    data = {"user": operator_b.pk, "role": role, "tenant": tenant_a.pk if with_tenant else ""}
    response = as_csm.post(url("membership", "add"), data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert not operator_b.memberships.filter(role=role).exclude(tenant__slug="tenant-b").exists()


def test_csm_grants_a_role_in_the_admin(as_csm, operator_b, tenant_a):
    response = as_csm.post(url("membership", "add"), {"user": operator_b.pk, "role": "support",
                                                      "tenant": tenant_a.pk})
    assert response.status_code == 302
    assert operator_b.memberships.filter(tenant=tenant_a, role="support").exists()
