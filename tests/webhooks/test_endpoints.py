"""Endpoint services: zones, quota, URL checks, secrets, pause/resume, audit rows."""

import base64
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from mktops import net
from mktops.models import AuditLog
from webhooks.models import Endpoint, EndpointStatus, SecretReveal
from webhooks.services import endpoints as svc

pytestmark = pytest.mark.django_db


def test_secret_is_whsec_and_base64_of_32_random_bytes(endpoint):
    assert endpoint.secret.startswith("whsec_")
    assert len(base64.b64decode(endpoint.secret.removeprefix("whsec_"))) == 32
    assert svc.secret_new() != svc.secret_new()


def test_secret_is_encrypted_at_rest(endpoint):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM webhooks_endpoint WHERE id = %s", [endpoint.pk])
        stored = cursor.fetchone()[0]
    assert endpoint.secret not in stored and stored.startswith("gAAAA")


def test_a_type_of_a_zone_not_bought_is_refused_naming_the_field(tenant_a, operator_a, http_receiver):
    tenant_a.webhook_zone1_enabled = True
    tenant_a.save()
    with pytest.raises(ValidationError) as exc:
        svc.endpoint_create(tenant=tenant_a, name="x", url=http_receiver.url, by=operator_a,
                            event_types=["receipt.receipt_validated", "message.first_open"])
    assert exc.value.message_dict == {
        "event_types": [svc.EVENT_TYPE_NOT_BOUGHT.format(type="message.first_open", zone=2)]}


def test_a_zone_past_its_purchase_and_addon_end_is_not_bought(zones_on, clock):
    today = clock.now().date()
    zones_on.webhook_zone2_purchase_end = today - timedelta(days=10)
    zones_on.webhook_zone2_addon_end = today - timedelta(days=1)
    assert not svc.zone_is_active(tenant=zones_on, zone=2)
    zones_on.webhook_zone2_addon_end = today
    assert svc.zone_is_active(tenant=zones_on, zone=2)
    zones_on.webhook_zone1_purchase_start = today + timedelta(days=1)
    assert not svc.zone_is_active(tenant=zones_on, zone=1)


def test_unknown_type_and_no_type_are_refused(zones_on, operator_a, http_receiver):
    for types, message in (([], svc.EVENT_TYPES_REQUIRED),
                           (["order.paid"], svc.EVENT_TYPE_UNKNOWN.format(type="order.paid"))):
        with pytest.raises(ValidationError) as exc:
            svc.endpoint_create(tenant=zones_on, name="x", url=http_receiver.url, event_types=types, by=operator_a)
        assert exc.value.message_dict == {"event_types": [message]}


def test_three_endpoints_by_default_and_a_csm_raises_the_quota(new_endpoint, zones_on):
    for i in range(3):
        new_endpoint(name=f"e{i}")
    with pytest.raises(ValidationError) as exc:
        new_endpoint(name="fourth")
    assert exc.value.message_dict == {"__all__": [svc.QUOTA_REACHED.format(quota=3)]}
    zones_on.webhook_endpoint_quota = 4
    zones_on.save()
    new_endpoint(name="fourth")
    assert Endpoint.objects.filter(tenant=zones_on).count() == 4


def test_a_private_address_is_refused_at_save_when_private_targets_are_off(zones_on, operator_a, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    for url in ("https://127.0.0.1/hook", "https://localhost/hook", "https://169.254.169.254/latest",
                "https://10.0.0.1/", "https://[::ffff:127.0.0.1]/"):
        with pytest.raises(ValidationError) as exc:
            svc.endpoint_create(tenant=zones_on, name="x", url=url, event_types=["prize.points_added"],
                                by=operator_a)
        assert exc.value.message_dict == {"url": [svc.URL_BLOCKED]}, url
    # a decimal spelling of 127.0.0.1 is not even taken for a host name
    with pytest.raises(ValidationError):
        svc.endpoint_create(tenant=zones_on, name="x", url="https://2130706433/", event_types=["prize.points_added"],
                            by=operator_a)
    assert not Endpoint.objects.exists()


def test_plain_http_is_refused_when_private_targets_are_off(zones_on, operator_a, settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    with pytest.raises(ValidationError) as exc:
        svc.endpoint_create(tenant=zones_on, name="x", url="http://crm.example.com/hook",
                            event_types=["prize.points_added"], by=operator_a)
    assert exc.value.message_dict == {"url": [net.ERR_URL_SCHEME]}


def test_reveal_is_for_operators_only_and_recorded(endpoint, operator_a, support_a, csm):
    assert svc.secret_reveal(endpoint=endpoint, by=operator_a) == endpoint.secret
    for user in (support_a, csm):
        with pytest.raises(ValidationError):
            svc.secret_reveal(endpoint=endpoint, by=user)
    assert [(r.user, r.endpoint) for r in SecretReveal.objects.all()] == [(operator_a, endpoint)]
    assert AuditLog.objects.filter(action="webhook_secret_reveal", user=operator_a).count() == 1


def test_rotate_at_once_or_with_24_hours_of_overlap(endpoint, operator_a, clock):
    first = endpoint.secret
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=True)
    second = endpoint.secret
    assert second != first and endpoint.signing_secrets() == [second, first]
    clock.advance(timedelta(hours=24, seconds=1))
    assert endpoint.signing_secrets() == [second]
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=False)
    endpoint.refresh_from_db()
    assert endpoint.signing_secrets() == [endpoint.secret] and endpoint.secret not in (first, second)
    assert AuditLog.objects.filter(action="webhook_secret_rotate").count() == 2


def test_pause_resume_and_delete_write_audit_rows(endpoint, operator_a):
    svc.endpoint_pause(endpoint=endpoint, by=operator_a)
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.PAUSED
    assert svc.endpoint_resume(endpoint=endpoint, by=operator_a) == 0
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.ACTIVE
    svc.endpoint_delete(endpoint=endpoint, by=operator_a)
    assert not Endpoint.objects.exists()
    assert list(AuditLog.objects.filter(action__startswith="webhook_endpoint").order_by("pk")
                .values_list("action", flat=True)) == [
        "webhook_endpoint_create", "webhook_endpoint_pause", "webhook_endpoint_resume", "webhook_endpoint_delete"]
