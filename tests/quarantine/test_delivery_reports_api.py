"""POST /api/v1/delivery-reports: the events API's conventions (Bearer key, per-item rejections,
400/401/413, the body rules) and the OpenAPI schema."""

import gzip

import orjson
import pytest

from mktops import services
from quarantine import intake
from quarantine.models import QuarantineEntry, Status
from tests.quarantine.report_helpers import report

PATH = "/delivery-reports"


def test_reports_are_applied_and_counted(api, tenant_a):
    response = api(PATH, {"reports": [
        report(),
        report(address="bob@example.com", raw="452 4.2.2 Mailbox full"),
        report(channel="push", provider="fcm", address="tok", raw='{"error": {"status": "INTERNAL"}}'),
        report(channel="sms", provider="smpp", address="+33 6 12 34 56 78",
               raw="id:1 sub:001 dlvrd:001 submit date:2612011000 done date:2612011001 stat:DELIVRD err:000 text:x"),
    ]})
    assert response.status_code == 200, response.content
    assert response.json() == {
        "accepted": 4, "duplicates": 0, "rejected": [],
        "outcomes": {"delivered": 1, "quarantined": 1, "denylisted": 0, "counted": 1, "recorded": 1},
    }
    assert QuarantineEntry.objects.get(address="ann@example.com").status == Status.QUARANTINED


def test_a_bad_item_is_rejected_by_index_field_and_rule_and_the_others_kept(api, tenant_a):
    response = api(PATH, {"reports": [
        report(address="ann@example.com"),
        report(channel="fax"),
        report(channel="sms", provider="smpp", address="not a number"),
        report(channel="push", provider="smtp"),
        {k: v for k, v in report().items() if k != "raw"},
        report(time="yesterday"),
        report(extra="x"),
        report(kind="inbound"),
        "not an object",
        report(address="bob@example.com", delivery_id=""),
    ]})
    assert response.status_code == 200
    body = response.json()
    assert body["accepted"] == 1
    assert [(r["index"], r["field"]) for r in body["rejected"]] == [
        (1, "channel"), (2, "address"), (3, "provider"), (4, "raw"), (5, "time"), (6, "extra"), (7, "kind"),
        (8, "report"), (9, "delivery_id")]
    rules = {r["field"]: r["rule"] for r in body["rejected"]}
    assert rules["channel"] == intake.RULE_CHANNEL
    assert rules["time"] == intake.RULE_TIME
    assert rules["provider"] == intake.RULE_PROVIDER_PUSH
    assert rules["raw"] == intake.RULE_REQUIRED
    assert QuarantineEntry.objects.count() == 1


def test_iso_times_and_the_future(api, tenant_a):
    body = api(PATH, {"reports": [report(time="2026-12-01T10:00:00+00:00"), report(time="2999-01-01T00:00:00Z"),
                                  report(time=True)]}).json()
    assert body["accepted"] == 1
    assert [r["index"] for r in body["rejected"]] == [1, 2]


def test_a_repeated_report_is_a_duplicate(api, tenant_a):
    item = report(raw="452 4.2.2 Mailbox full")
    api(PATH, {"reports": [item]})
    assert api(PATH, {"reports": [item]}).json()["duplicates"] == 1
    assert QuarantineEntry.objects.get().error_count == 1


@pytest.mark.parametrize("key", [None, "mk_wrong", "Bearer"])
def test_without_a_valid_key_401(api, tenant_a, key):
    response = api(PATH, {"reports": [report()]}, key=key)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert not QuarantineEntry.objects.exists()


def test_a_revoked_key_is_refused(api, tenant_a):
    key, raw = services.api_key_create(tenant=tenant_a, name="old")
    services.api_key_revoke(key=key)
    assert api(PATH, {"reports": [report()]}, key=raw).status_code == 401


@pytest.mark.parametrize("body", [{"events": []}, {"reports": {}}, {"reports": [], "more": 1}, []])
def test_a_body_of_the_wrong_shape_400(api, body):
    response = api(PATH, body)
    assert response.status_code == 400
    assert "reports" in response.json()["detail"]


def test_not_json_400(api):
    assert api(PATH, raw=b"{nope").status_code == 400


def test_too_many_reports_413(api, settings, tenant_a):
    settings.MKTOPS_API_MAX_REPORTS = 2
    response = api(PATH, {"reports": [report(delivery_id=f"d{i}") for i in range(3)]})
    assert response.status_code == 413
    assert "limit is 2" in response.json()["detail"]
    assert not QuarantineEntry.objects.exists()


def test_a_body_over_the_byte_limit_413(api, settings):
    settings.MKTOPS_API_MAX_BYTES = 1024
    assert api(PATH, {"reports": [report(raw="x" * 2000)]}).status_code == 413


def test_a_gzip_body_is_read(api, tenant_a):
    body = gzip.compress(orjson.dumps({"reports": [report()]}))
    response = api(PATH, raw=body, HTTP_CONTENT_ENCODING="gzip")
    assert response.json()["accepted"] == 1


def test_tenants_are_kept_apart(api, tenant_a, tenant_b):
    _, key_b = services.api_key_create(tenant=tenant_b, name="b")
    api(PATH, {"reports": [report()]}, key=key_b)
    assert QuarantineEntry.objects.get().tenant == tenant_b


def test_the_route_is_in_the_openapi_schema(client, db):
    schema = client.get("/api/v1/openapi.json").json()
    operation = schema["paths"]["/api/v1/delivery-reports"]["post"]
    assert {"200", "400", "401", "413", "415"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    item = body["properties"]["reports"]["items"]
    assert set(item["required"]) == set(intake.FIELDS)
    assert "kind" in item["properties"]
