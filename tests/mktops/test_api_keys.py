"""API keys: created by operators in the admin, shown once, stored hashed, revocable, last use recorded."""

import re
from datetime import timedelta

from django.db import connection
from django.urls import reverse
from django.utils import timezone

from mktops import services
from mktops.models import ApiKey, AuditLog
from tests.conftest import make_event

ADD = reverse("admin:mktops_apikey_add")


def _messages(response):
    return [str(m) for m in response.context["messages"]]


def test_operator_creates_a_key_and_sees_it_once(as_operator_a, operator_a, tenant_a):
    response = as_operator_a.post(ADD, {"tenant": tenant_a.pk, "name": "sending platform"}, follow=True)
    assert response.status_code == 200
    shown = [m for m in _messages(response) if "will not be shown again" in m]
    assert len(shown) == 1
    raw = re.search(r"<code>(mk_[^<]+)</code>", shown[0]).group(1)

    key = ApiKey.objects.get(name="sending platform")
    assert (key.tenant, key.created_by, key.key_hint) == (tenant_a, operator_a, raw[-4:])
    assert key.key_hash == ApiKey.hash(raw)
    assert AuditLog.objects.filter(action="api_key.create", object_id=str(key.pk), user=operator_a).exists()

    # the change page, opened again, never shows it
    page = as_operator_a.get(reverse("admin:mktops_apikey_change", args=[key.pk])).content.decode()
    assert raw not in page
    assert key.key_hint in page


def test_the_raw_key_is_not_stored_anywhere_in_the_table(tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="k")
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM mktops_apikey")
        stored = " ".join(str(v) for row in cursor.fetchall() for v in row)
    assert raw not in stored
    assert raw[len(ApiKey.PREFIX):-4] not in stored


def test_keys_are_unique_and_random(tenant_a):
    raws = {services.api_key_create(tenant=tenant_a, name=f"k{i}")[1] for i in range(5)}
    assert len(raws) == 5
    assert all(r.startswith(ApiKey.PREFIX) and len(r) > 40 for r in raws)


def test_a_key_authenticates_as_its_tenant_and_records_its_use(api, tenant_a):
    key = ApiKey.objects.get(tenant=tenant_a)
    assert key.last_used_at is None
    assert api("/events", {"events": [make_event(1)]}).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at is not None
    assert timezone.now() - key.last_used_at < timedelta(minutes=5)


def test_last_used_is_kept_to_the_minute_not_written_on_every_request(tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="k")
    earlier = timezone.now() - timedelta(seconds=services.LAST_USED_RESOLUTION_SECONDS // 2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=earlier)
    services.api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at == earlier
    stale = timezone.now() - timedelta(seconds=services.LAST_USED_RESOLUTION_SECONDS * 2)
    ApiKey.objects.filter(pk=key.pk).update(last_used_at=stale)
    services.api_key_authenticate(raw)
    key.refresh_from_db()
    assert key.last_used_at > stale


def test_revoked_keys_get_401(api, tenant_a, operator_a):
    key = ApiKey.objects.get(tenant=tenant_a)
    services.api_key_revoke(key=key, by=operator_a)
    response = api("/events", {"events": [make_event(1)]})
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]
    assert AuditLog.objects.filter(action="api_key.revoke", object_id=str(key.pk)).exists()


def test_operator_revokes_keys_from_the_changelist(as_operator_a, tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="to revoke")
    response = as_operator_a.post(reverse("admin:mktops_apikey_changelist"),
                                  {"action": "revoke", "_selected_action": [key.pk]}, follow=True)
    assert "Revoked 1 API key(s)." in _messages(response)
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert services.api_key_authenticate(raw) is None
    page = as_operator_a.get(reverse("admin:mktops_apikey_changelist")).content.decode()
    assert "revoked" in page  # revoked keys stay listed


def test_support_cannot_create_or_revoke(as_support_a, tenant_a):
    key, _ = services.api_key_create(tenant=tenant_a, name="kept")
    assert as_support_a.post(ADD, {"tenant": tenant_a.pk, "name": "x"}).status_code == 403
    as_support_a.post(reverse("admin:mktops_apikey_changelist"), {"action": "revoke", "_selected_action": [key.pk]})
    key.refresh_from_db()
    assert key.revoked_at is None
    assert not ApiKey.objects.filter(name="x").exists()


def test_unknown_and_malformed_keys_do_not_authenticate(tenant_a):
    _, raw = services.api_key_create(tenant=tenant_a, name="k")
    for candidate in ["", "mk_", raw[:-1], raw + "x", raw.upper(), "Bearer " + raw, raw[len(ApiKey.PREFIX):]]:
        assert services.api_key_authenticate(candidate) is None
    assert services.api_key_authenticate(raw).tenant == tenant_a
