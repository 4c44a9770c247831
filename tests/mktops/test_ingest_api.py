"""POST /api/v1/events: validation per item, duplicates, limits, contacts, catalogue, sequence."""

import json

import orjson
import pytest
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext

from mktops.dispatch import events_ingested
from mktops.ingest import (
    ATTRIBUTE_FIELDS,
    MAX_DEPTH,
    RULE_ATTRIBUTE_NAMES,
    RULE_ATTRIBUTES,
    RULE_DEPTH,
    RULE_EVENT_NAMES,
    RULE_NUL,
    events_ingest,
    forget_known_names,
)
from mktops.models import (
    Contact,
    Device,
    Event,
    EventName,
    IngestCounter,
    SentMessage,
    UserAttributeName,
)
from tests.conftest import email_sent_event, make_event


def ok(response) -> dict:
    assert response.status_code == 200, response.content
    return response.json()


def rejected(body) -> list[tuple[int, str]]:
    return [(r["index"], r["field"]) for r in body["rejected"]]


# --- validation item by item --------------------------------------------------
def test_each_rejected_event_is_named_by_index_field_and_rule(api, tenant_a):
    body = ok(api("/events", {"events": [
        make_event(0),
        make_event(1, event_time="yesterday"),
        {k: v for k, v in make_event(2).items() if k != "event_uuid"},
        make_event(3, email_id="not-an-address"),
        make_event(4, colour="blue"),
        "not an object",
        make_event(6, event_time=1_790_000_000_000),
        make_event(7, event_type="SOMETHING"),
        make_event(8),
    ]}))
    assert body["accepted"] == 2 and body["duplicates"] == 0
    assert rejected(body) == [(1, "event_time"), (2, "event_uuid"), (3, "email_id"), (4, "colour"), (5, "event"),
                              (6, "event_time"), (7, "event_type")]
    rules = {r["index"]: r["rule"] for r in body["rejected"]}
    assert rules[1] == "must be a number: epoch seconds"
    assert rules[2] == "is required"
    assert "email address" in rules[3]
    assert rules[4] == "is not a known field"
    assert rules[5] == "must be a JSON object"
    assert "milliseconds are not accepted" in rules[6]
    assert set(Event.objects.filter(tenant=tenant_a).values_list("event_uuid", flat=True)) == {"uuid-0", "uuid-8"}


def test_valid_events_are_stored_even_when_all_others_are_rejected(api, tenant_a):
    body = ok(api("/events", {"events": [{"uid": ""}, make_event(5)]}))
    assert body["accepted"] == 1
    assert Event.objects.filter(tenant=tenant_a).count() == 1


def test_an_empty_batch_is_accepted(api):
    assert ok(api("/events", {"events": []})) == {"accepted": 0, "duplicates": 0, "rejected": []}


def test_defaults_and_normalisation(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, email_id=" Person@Example.COM ", mobile_number="+44 (20) 7946-0958",
                                             uid="  u-1  ")]}))
    event = Event.objects.get(tenant=tenant_a)
    assert (event.event_type, event.event_source, event.uid) == ("USER_ACTION_EVENT", "API", "u-1")
    assert (event.email_id, event.mobile_number) == ("person@example.com", "+442079460958")
    assert event.event_time.timestamp() == 1_790_000_001
    assert event.received_at is not None


def test_fractional_epoch_seconds(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, event_time=1_790_000_000.25)]}))
    assert Event.objects.get(tenant=tenant_a).event_time.timestamp() == 1_790_000_000.25


def test_null_optional_fields_mean_not_given(api, tenant_a):
    body = ok(api("/events", {"events": [make_event(1, email_id=None, user_attributes=None, event_type=None,
                                                    message=None, push_id=None)]}))
    assert body["accepted"] == 1
    assert Event.objects.get(tenant=tenant_a).user_attributes == {}


def test_null_required_fields_are_rejected(api):
    body = ok(api("/events", {"events": [make_event(1, uid=None), make_event(2, event_time=None)]}))
    assert rejected(body) == [(0, "uid"), (1, "event_time")]


# --- duplicates ---------------------------------------------------------------------
def test_duplicates_within_a_batch_are_counted_and_stored_once(api, tenant_a):
    body = ok(api("/events", {"events": [make_event(1), make_event(1, event_name="Other"), make_event(2)]}))
    assert (body["accepted"], body["duplicates"]) == (2, 1)
    assert Event.objects.get(tenant=tenant_a, event_uuid="uuid-1").event_name == "Purchase"


def test_duplicates_across_batches_store_nothing_new(api, tenant_a):
    ok(api("/events", {"events": [make_event(1), make_event(2)]}))
    body = ok(api("/events", {"events": [make_event(1, user_attributes={"late": True}), make_event(3)]}))
    assert (body["accepted"], body["duplicates"]) == (1, 1)
    assert Event.objects.filter(tenant=tenant_a).count() == 3
    assert "late" not in Contact.objects.get(tenant=tenant_a, uid="user-1").attributes


def test_the_same_uuid_in_another_tenant_is_not_a_duplicate(tenant_a, tenant_b):
    assert events_ingest(tenant=tenant_a, items=[make_event(1)]).accepted == 1
    assert events_ingest(tenant=tenant_b, items=[make_event(1)]).accepted == 1


# --- the body as a whole --------------------------------------------------------------
@pytest.mark.parametrize("raw, sentence", [
    (b"", "not valid JSON"),
    (b"events=1", "not valid JSON"),
    (b'{"events": [', "not valid JSON"),
    (b"\xff\xfe{}", "not valid JSON"),
    (b'{"events": [{"a": NaN}]}', "not valid JSON"),
    (b'{"events": [{"a": 1e999}]}', "not valid JSON"),
    (b"[" * 5000 + b"]" * 5000, "not valid JSON"),
    (b"[]", 'must be a JSON object with an "events" list'),
    (b'"events"', 'must be a JSON object with an "events" list'),
    (b"{}", 'must be a JSON object with an "events" list'),
    (b'{"events": {"0": {}}}', '"events" must be a list'),
    (b'{"events": null}', '"events" must be a list'),
    (b'{"events": [], "extra": 1}', "Unknown top-level field(s): extra"),
])
def test_a_body_that_is_not_a_batch_is_400_with_a_sentence(api, raw, sentence):
    response = api("/events", raw=raw)
    assert response.status_code == 400
    detail = response.json()["detail"]
    assert sentence in detail
    assert detail.endswith(".")
    assert "Traceback" not in detail


@pytest.mark.parametrize("headers", [{}, {"HTTP_AUTHORIZATION": "Bearer mk_wrong"},
                                     {"HTTP_AUTHORIZATION": "Bearer "}, {"HTTP_AUTHORIZATION": "Basic dXNlcjpwdw=="},
                                     {"HTTP_AUTHORIZATION": "mk_wrong"}])
def test_missing_or_wrong_key_is_401(db, headers):
    response = Client().post("/api/v1/events", data=orjson.dumps({"events": [make_event(1)]}),
                             content_type="application/json", **headers)
    assert response.status_code == 401
    assert "API key" in response.json()["detail"]
    assert not Event.objects.exists()


def test_another_tenants_key_writes_to_that_tenant(api, tenant_a, tenant_b):
    from mktops import services

    _, raw_b = services.api_key_create(tenant=tenant_b, name="b")
    ok(api("/events", {"events": [make_event(1)]}, key=raw_b))
    assert Event.objects.get().tenant == tenant_b


def test_over_the_event_limit_is_413(api, settings, tenant_a):
    settings.MKTOPS_API_MAX_EVENTS = 3
    response = api("/events", {"events": [make_event(i) for i in range(4)]})
    assert response.status_code == 413
    assert "limit is 3" in response.json()["detail"]
    assert not Event.objects.exists()
    assert ok(api("/events", {"events": [make_event(i) for i in range(3)]}))["accepted"] == 3


def test_over_the_byte_limit_is_413(api, settings, tenant_a):
    settings.MKTOPS_API_MAX_BYTES = 2048
    big = make_event(1, user_attributes={"blob": "x" * 4096})
    response = api("/events", {"events": [big]})
    assert response.status_code == 413
    assert "limit is 2048 bytes" in response.json()["detail"]
    assert not Event.objects.exists()


def test_a_declared_length_over_the_limit_is_refused_before_reading(api, settings):
    settings.MKTOPS_API_MAX_BYTES = 2048
    response = api("/events", {"events": []}, CONTENT_LENGTH="999999999")
    assert response.status_code == 413


def test_other_methods_are_not_allowed(api, api_key_a):
    response = Client().get("/api/v1/events", HTTP_AUTHORIZATION=f"Bearer {api_key_a}")
    assert response.status_code == 405


# --- never a 500 -------------------------------------------------------------------------
def _nested(depth):
    value = "bottom"
    for _ in range(depth):
        value = {"n": value}
    return value


NASTY = {
    "nul in uid": make_event(1, uid="a\u0000b"),
    "nul in an attribute value": make_event(1, user_attributes={"name": "a\u0000"}),
    "nul in an attribute key": make_event(1, event_attributes={"k\u0000": 1}),
    "nul in the message": email_sent_event(1, message={**email_sent_event(1)["message"], "html": "<p>\u0000</p>"}),
    "deep nesting": make_event(1, user_attributes={"deep": _nested(MAX_DEPTH + 5)}),
    "deep lists": make_event(1, device_attributes={"l": orjson.loads(b"[" * 40 + b"1" + b"]" * 40)}),
    "huge event_time": make_event(1, event_time=10**18),
    "negative event_time": make_event(1, event_time=-1),
    "boolean event_time": make_event(1, event_time=True),
    "string event_time": make_event(1, event_time="1790000000"),
    "list uid": make_event(1, uid=["a"]),
    "number uid": make_event(1, uid=12345),
    "object name": make_event(1, event_name={"a": 1}),
    "long uid": make_event(1, uid="u" * 256),
    "long uuid": make_event(1, event_uuid="x" * 65),
    "long code": make_event(1, event_code="C" * 129),
    "long source": make_event(1, event_source="S" * 65),
    "long email": make_event(1, email_id="a" * 320 + "@example.com"),
    "long push id": make_event(1, push_id="t" * 513),
    "attributes as list": make_event(1, user_attributes=[1, 2]),
    "attributes as string": make_event(1, event_attributes="campaign"),
    "mobile letters": make_event(1, mobile_number="call me"),
    "message not an object": email_sent_event(1, message="hello"),
    "message on a custom event": make_event(1, message={"to": "x"}),
    "empty object": {},
    "null item": None,
    "number item": 42,
    "list item": [make_event(1)],
}


@pytest.mark.parametrize("item", NASTY.values(), ids=NASTY.keys())
def test_nasty_items_are_rejected_one_by_one_never_a_500(api, tenant_a, item):
    body = ok(api("/events", raw=json.dumps({"events": [make_event(99), item]}).encode()))
    assert body["accepted"] == 1, body
    assert [r["index"] for r in body["rejected"]] == [1]
    assert body["rejected"][0]["rule"]
    assert Event.objects.filter(tenant=tenant_a).count() == 1


def test_nul_and_depth_rules_name_the_field(api):
    body = ok(api("/events", {"events": [
        make_event(1, user_attributes={"name": "a\u0000"}),
        make_event(2, user_attributes={"deep": _nested(MAX_DEPTH + 5)}),
    ]}))
    assert body["rejected"][0] == {"index": 0, "field": "user_attributes.name", "rule": RULE_NUL}
    assert body["rejected"][1]["field"].startswith("user_attributes.deep.n")
    assert body["rejected"][1]["rule"] == RULE_DEPTH


UNICODE = {
    "emoji and scripts": make_event(1, uid="用户-😀", event_name="Ürün Görüntülendi 🛒",
                                    user_attributes={"名前": "Zoë ‮ RTL", "emoji": "👩🏽‍💻"}),
    "big numbers and floats": make_event(2, user_attributes={"big": 10**30, "f": 1.5e300, "neg": -0.0}),
    "nested within the limit": make_event(3, event_attributes={"deep": _nested(MAX_DEPTH - 3)}),
    "nulls inside attributes": make_event(4, user_attributes={"gone": None, "list": [None, 1, "a"]}),
}


@pytest.mark.parametrize("item", UNICODE.values(), ids=UNICODE.keys())
def test_odd_but_valid_events_are_stored_as_sent(api, tenant_a, item):
    raw = json.dumps({"events": [item]}).encode()
    assert ok(api("/events", raw=raw))["accepted"] == 1
    event = Event.objects.get(tenant=tenant_a)
    assert event.uid == item["uid"] and event.event_name == item["event_name"]
    sent = orjson.loads(raw)["events"][0]  # integers beyond 64 bits arrive as floats
    for name in ("user_attributes", "event_attributes"):
        if name in item:
            expected = sent[name]
            if all(isinstance(v, int | float) for v in expected.values()):
                # PostgreSQL keeps numbers as decimals: 1e30 comes back as an int
                expected = pytest.approx(expected)
            assert getattr(event, name) == expected


# --- contacts, devices, catalogue ------------------------------------------------------
def test_the_contact_is_created_then_updated_with_merged_attributes(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, uid="c-1", user_attributes={"city": "Lisbon", "plan": "free"},
                                             email_id="c1@example.com")]}))
    contact = Contact.objects.get(tenant=tenant_a, uid="c-1")
    assert contact.attributes == {"city": "Lisbon", "plan": "free"}
    assert contact.email == "c1@example.com" and contact.mobile_number == ""
    created, first_update = contact.created_at, contact.updated_at

    ok(api("/events", {"events": [
        make_event(2, uid="c-1", user_attributes={"plan": "pro"}, mobile_number="+15550001"),
        make_event(3, uid="c-1", user_attributes={"ltv": 12.5}),
    ]}))
    contact.refresh_from_db()
    assert contact.attributes == {"city": "Lisbon", "plan": "pro", "ltv": 12.5}
    assert (contact.email, contact.mobile_number) == ("c1@example.com", "+15550001")
    assert contact.created_at == created and contact.updated_at >= first_update
    assert Contact.objects.filter(tenant=tenant_a).count() == 1


def test_one_batch_changes_attributes_of_some_contacts_and_addresses_of_others(api, tenant_a):
    ok(api("/events", {"events": [make_event(i, uid=f"c-{i}", user_attributes={"plan": "free"},
                                             email_id=f"c{i}@example.com") for i in range(4)]}))
    untouched = Contact.objects.get(tenant=tenant_a, uid="c-3").updated_at
    ok(api("/events", {"events": [
        make_event(10, uid="c-0", user_attributes={"plan": "pro"}),  # attributes only
        make_event(11, uid="c-1", email_id="new1@example.com"),  # address only
        make_event(12, uid="c-2", user_attributes={"plan": "pro"}, mobile_number="+15550002"),  # both
        make_event(13, uid="c-3", email_id="c3@example.com", user_attributes={"plan": "free"}),  # nothing new
    ]}))
    got = {c.uid: (c.email, c.mobile_number, c.attributes) for c in Contact.objects.filter(tenant=tenant_a)}
    assert got == {
        "c-0": ("c0@example.com", "", {"plan": "pro"}),
        "c-1": ("new1@example.com", "", {"plan": "free"}),
        "c-2": ("c2@example.com", "+15550002", {"plan": "pro"}),
        "c-3": ("c3@example.com", "", {"plan": "free"}),
    }
    # the email and mobile lookups find the new addresses
    assert Contact.objects.get(tenant=tenant_a, email="new1@example.com").uid == "c-1"
    assert Contact.objects.get(tenant=tenant_a, mobile_number="+15550002").uid == "c-2"
    assert Contact.objects.get(tenant=tenant_a, uid="c-3").updated_at == untouched


def test_new_contacts_of_a_batch_each_get_their_own_events(api, tenant_a):
    Contact.objects.create(tenant=tenant_a, uid="gone").delete()  # a used id the next ones do not take
    ok(api("/events", {"events": [make_event(i, uid=f"new-{i % 7}") for i in range(30)]}))
    events = Event.objects.filter(tenant=tenant_a).select_related("contact")
    assert len(events) == 30 and all(e.contact.uid == e.uid for e in events)
    assert Contact.objects.filter(tenant=tenant_a).count() == 7


def test_the_events_of_one_batch_apply_to_their_contact_in_order(api, tenant_a):
    ok(api("/events", {"events": [
        make_event(1, uid="c", user_attributes={"plan": "free", "city": "Oslo"}, email_id="a@example.com"),
        make_event(2, uid="other", user_attributes={"plan": "pro"}),
        make_event(3, uid="c", user_attributes={"plan": "pro", "seats": 3}, mobile_number="+4712345678"),
        make_event(4, uid="c", email_id="b@example.com"),
        make_event(5, uid="c", user_attributes={"seats": 5}),
    ]}))
    c = Contact.objects.get(tenant=tenant_a, uid="c")
    assert (c.email, c.mobile_number) == ("b@example.com", "+4712345678")
    assert c.attributes == {"plan": "pro", "city": "Oslo", "seats": 5}
    # a batch whose events, taken together, change nothing leaves the contact untouched
    untouched = c.updated_at
    ok(api("/events", {"events": [
        make_event(6, uid="c", user_attributes={"seats": 6}),
        make_event(7, uid="c", user_attributes={"seats": 5}, email_id="b@example.com"),
    ]}))
    assert Contact.objects.get(pk=c.pk).updated_at == untouched


def test_a_later_event_without_email_keeps_the_known_one(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, uid="c", email_id="a@example.com")]}))
    ok(api("/events", {"events": [make_event(2, uid="c")]}))
    assert Contact.objects.get(tenant=tenant_a, uid="c").email == "a@example.com"


def test_contacts_are_per_tenant(tenant_a, tenant_b):
    events_ingest(tenant=tenant_a, items=[make_event(1, uid="same", user_attributes={"t": "a"})])
    events_ingest(tenant=tenant_b, items=[make_event(2, uid="same", user_attributes={"t": "b"})])
    assert Contact.objects.get(tenant=tenant_a, uid="same").attributes == {"t": "a"}
    assert Contact.objects.get(tenant=tenant_b, uid="same").attributes == {"t": "b"}


def test_push_tokens_become_devices(api, tenant_a):
    ok(api("/events", {"events": [
        make_event(1, uid="d", push_id="tok-android", device_attributes={"platform": "android"}),
        make_event(2, uid="d", push_id="tok-ios", event_name="Notification Sent iOS",
                   event_code="NOTIFICATION_SENT_IOS_MOE"),
        make_event(3, uid="d", push_id="tok-unknown"),
    ]}))
    devices = dict(Device.objects.filter(contact__uid="d").values_list("push_token", "platform"))
    assert devices == {"tok-android": "ANDROID", "tok-ios": "IOS"}


def test_a_token_seen_again_refreshes_its_device(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, uid="d", push_id="tok", device_attributes={"platform": "web"})]}))
    first = Device.objects.get(push_token="tok").last_seen_at
    ok(api("/events", {"events": [make_event(2, uid="d", push_id="tok", device_attributes={"platform": "web"})]}))
    assert Device.objects.filter(push_token="tok").count() == 1
    assert Device.objects.get(push_token="tok").last_seen_at >= first


def test_the_catalogue_keeps_event_and_attribute_names_per_tenant(api, tenant_a, tenant_b):
    ok(api("/events", {"events": [make_event(1, user_attributes={"city": "x", "plan": "y"}),
                                  make_event(2, event_name="App Opened", user_attributes={"city": "z"})]}))
    ok(api("/events", {"events": [make_event(3, event_name="App Opened")]}))
    events_ingest(tenant=tenant_b, items=[make_event(4, event_name="B only", user_attributes={"b": 1})])
    assert set(EventName.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == {"Purchase", "App Opened"}
    assert set(UserAttributeName.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == {"city", "plan"}
    assert set(EventName.objects.filter(tenant=tenant_b).values_list("name", flat=True)) == {"B only"}


def test_known_catalogue_names_are_not_looked_up_again(api, tenant_a, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ok(api("/events", {"events": [make_event(1, user_attributes={"plan": "pro"})]}))
    # a later batch with the same names asks nothing about the catalogue
    with CaptureQueriesContext(connection) as queries, django_capture_on_commit_callbacks(execute=True):
        ok(api("/events", {"events": [make_event(2, user_attributes={"plan": "free"})]}))
    catalogue = [q["sql"] for q in queries.captured_queries if "eventname" in q["sql"] or "attributename" in q["sql"]]
    assert catalogue == []
    # a new name is still added, and a batch that rolls back teaches nothing
    with pytest.raises(RuntimeError), transaction.atomic():
        events_ingest(tenant=tenant_a, items=[make_event(3, event_name="Rolled Back")])
        raise RuntimeError("the caller's transaction fails")
    with django_capture_on_commit_callbacks(execute=True):
        ok(api("/events", {"events": [make_event(4, event_name="Rolled Back", user_attributes={"ltv": 1})]}))
    assert set(EventName.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == {"Purchase", "Rolled Back"}
    assert set(UserAttributeName.objects.filter(tenant=tenant_a).values_list("name", flat=True)) == {"plan", "ltv"}


# --- limits on names: per event and per tenant -------------------------------------------
def test_an_event_with_260000_attribute_keys_is_rejected_alone(api, settings, tenant_a):
    crowded = make_event(1, user_attributes={f"k{i}": 1 for i in range(260_000)})
    raw = orjson.dumps({"events": [make_event(0), crowded, make_event(2)]})
    assert len(raw) < settings.MKTOPS_API_MAX_BYTES
    body = ok(api("/events", raw=raw))
    assert body["accepted"] == 2
    limit = settings.MKTOPS_API_MAX_ATTRIBUTES
    assert body["rejected"] == [{"index": 1, "field": "user_attributes", "rule": RULE_ATTRIBUTES.format(limit=limit)}]
    assert not UserAttributeName.objects.exists()
    assert set(Event.objects.values_list("event_uuid", flat=True)) == {"uuid-0", "uuid-2"}


@pytest.mark.parametrize("field", ATTRIBUTE_FIELDS)
def test_each_attribute_object_holds_at_most_the_limit_of_keys(api, settings, tenant_a, field):
    settings.MKTOPS_API_MAX_ATTRIBUTES = 5
    body = ok(api("/events", {"events": [make_event(1, **{field: {f"k{i}": i for i in range(5)}}),
                                         make_event(2, **{field: {f"k{i}": i for i in range(6)}})]}))
    assert body["accepted"] == 1
    assert body["rejected"] == [{"index": 1, "field": field, "rule": RULE_ATTRIBUTES.format(limit=5)}]


@pytest.fixture
def small_catalogues(settings):
    settings.MKTOPS_API_MAX_EVENT_NAMES = 3
    settings.MKTOPS_API_MAX_ATTRIBUTE_NAMES = 4


def _names(model, tenant) -> set[str]:
    return set(model.objects.filter(tenant=tenant).values_list("name", flat=True))


def test_a_tenant_at_its_name_caps_refuses_new_names_and_takes_known_ones(api, tenant_a, small_catalogues):
    ok(api("/events", {"events": [
        make_event(1, event_name="A", user_attributes={"a": 1, "b": 1}),
        make_event(2, event_name="B", user_attributes={"c": 1, "d": 1}),
        make_event(3, event_name="C"),
    ]}))
    body = ok(api("/events", {"events": [
        make_event(10, uid="known", event_name="A", user_attributes={"a": 2}),
        make_event(11, uid="new-event", event_name="D"),
        make_event(12, uid="new-attribute", event_name="B", user_attributes={"d": 2, "e": 1}),
        email_sent_event(13),  # the platform's sent events are always admitted
        make_event(14, uid="known", event_name="C", user_attributes={"b": 3}),
    ]}))
    assert body["accepted"] == 3
    assert body["rejected"] == [
        {"index": 1, "field": "event_name", "rule": RULE_EVENT_NAMES.format(limit=3)},
        {"index": 2, "field": "user_attributes.e", "rule": RULE_ATTRIBUTE_NAMES.format(limit=4)},
    ]
    assert _names(EventName, tenant_a) == {"A", "B", "C", "Email Sent"}
    assert _names(UserAttributeName, tenant_a) == {"a", "b", "c", "d"}
    # a refused event changes no contact
    assert not Contact.objects.filter(uid__in=["new-event", "new-attribute"]).exists()
    assert Contact.objects.get(tenant=tenant_a, uid="known").attributes == {"a": 2, "b": 3}
    assert set(Event.objects.filter(tenant=tenant_a, seq__gt=3).values_list("event_uuid", flat=True)) == {
        "uuid-10", email_sent_event(13)["event_uuid"], "uuid-14"}
    # another tenant has its own room
    assert events_ingest(tenant=tenant_b_like(tenant_a), items=[make_event(1, event_name="D")]).accepted == 1


def tenant_b_like(tenant):
    from mktops import services

    return services.tenant_create(slug=f"{tenant.slug}-other", name="Other", db_name="other")


def test_the_last_room_goes_to_the_first_event_that_asks(api, tenant_a, small_catalogues):
    ok(api("/events", {"events": [make_event(0, event_name="A", user_attributes={"a": 1, "b": 1, "c": 1}),
                                  make_event(1, event_name="B")]}))
    body = ok(api("/events", {"events": [
        make_event(2, user_attributes={"x": 1}),  # Purchase and x: the last room of both
        make_event(3, event_name="Later"),
        make_event(4, user_attributes={"y": 1}),
        make_event(5, user_attributes={"x": 2}),  # the name admitted in this batch
    ]}))
    assert body["accepted"] == 2 and rejected(body) == [(1, "event_name"), (2, "user_attributes.y")]
    assert _names(EventName, tenant_a) == {"A", "B", "Purchase"}
    assert _names(UserAttributeName, tenant_a) == {"a", "b", "c", "x"}


def test_40000_new_names_in_one_batch(api, settings, tenant_a):
    """Looked up and added with one parameter per statement, however many names (a
    placeholder per name breaks SQLite's 32,766 and PostgreSQL's 65,535)."""
    settings.MKTOPS_API_MAX_ATTRIBUTE_NAMES = 100_000
    settings.MKTOPS_API_MAX_EVENT_NAMES = 100_000
    events = [make_event(e, event_name=f"name-{e}", user_attributes={f"attr-{e}-{i}": i for i in range(1000)})
              for e in range(40)]
    assert ok(api("/events", {"events": events}))["accepted"] == 40
    assert UserAttributeName.objects.filter(tenant=tenant_a).count() == 40_000
    # the same 40,000 names looked up again, as a process that never saw them would
    forget_known_names()
    again = [make_event(100 + e, **{k: v for k, v in ev.items() if k in ("event_name", "user_attributes")})
             for e, ev in enumerate(events)]
    again.append(make_event(200, user_attributes={"one-more": 1}))
    assert ok(api("/events", {"events": again}))["accepted"] == 41
    assert UserAttributeName.objects.filter(tenant=tenant_a).count() == 40_001
    assert EventName.objects.filter(tenant=tenant_a).count() == 41  # and Purchase


@pytest.mark.parametrize("attributes, expected", [
    ({"campaign_id": "cmp-42"}, "cmp-42"), ({"campaign_id": 42}, "42"), ({}, ""), ({"campaign_id": None}, ""),
    ({"campaign_id": "c" * 300}, "c" * 128),
])
def test_campaign_id_comes_from_event_attributes(api, tenant_a, attributes, expected):
    ok(api("/events", {"events": [make_event(1, event_attributes=attributes)]}))
    assert Event.objects.get(tenant=tenant_a).campaign_id == expected


def test_ingest_sequence_strictly_increases_per_tenant(api, tenant_a, tenant_b):
    ok(api("/events", {"events": [make_event(i) for i in range(3)]}))
    ok(api("/events", {"events": [make_event(1), make_event(10), {"bad": 1}, make_event(11)]}))
    events_ingest(tenant=tenant_b, items=[make_event(i) for i in range(2)])
    ok(api("/events", {"events": [make_event(20)]}))
    seqs_a = list(Event.objects.filter(tenant=tenant_a).order_by("id").values_list("seq", flat=True))
    assert seqs_a == [1, 2, 3, 4, 5, 6]
    assert list(Event.objects.filter(tenant=tenant_b).order_by("id").values_list("seq", flat=True)) == [1, 2]
    assert IngestCounter.objects.get(tenant=tenant_a).last_seq == 6


# --- sent messages ------------------------------------------------------------------------
def test_sent_events_keep_their_message(api, tenant_a):
    event = email_sent_event(1)
    sms = make_event(2, event_name="SMS Sent", event_code="MOE_SMS_SENT", event_type="CAMPAIGN_EVENT",
                     message={"to": "+15550002", "sender": "ACME", "body": "Hi"})
    push = make_event(3, event_name="Notification Received Android", event_code="NOTIFICATION_RECEIVED_MOE",
                      push_id="tok", message={"platform": "android", "token": "tok", "title": "T", "body": "B",
                                              "data": {"k": "v"}})
    body = ok(api("/events", {"events": [event, sms, push, email_sent_event(4, message=None)]}))
    assert body["accepted"] == 4
    stored = {m.event.event_uuid: m for m in SentMessage.objects.select_related("event")}
    assert set(stored) == {"uuid-1", "uuid-2", "uuid-3"}
    assert stored["uuid-1"].content == event["message"]
    assert stored["uuid-1"].tenant == tenant_a
    assert stored["uuid-1"].size == len(orjson.dumps(event["message"]))
    assert stored["uuid-3"].content["data"] == {"k": "v"}


def _email(**changes):
    message = {**email_sent_event(1)["message"], **changes}
    return {k: v for k, v in message.items() if v is not None}


MESSAGE_ERRORS = [
    ("email without from", email_sent_event(1, message=_email(**{"from": None})), "message.from", "is required"),
    ("email with unknown field", email_sent_event(1, message=_email(bcc="x")), "message.bcc", "is not a known field"),
    ("email with bad attachment", email_sent_event(1, message=_email(attachments=[{"name": "a.pdf", "size": -1}])),
     "message.attachments.0.size", None),
    ("email to a number", email_sent_event(1, message=_email(to=5)), "message.to", None),
    ("sms without body", make_event(1, event_name="SMS Sent", message={"to": "+1555", "sender": "A"}),
     "message.body", "is required"),
    ("push for the wrong platform", make_event(1, event_name="Notification Sent iOS",
                                                message={"platform": "android", "token": "t"}),
     "message.platform", "must be 'ios' for 'Notification Sent iOS'"),
    ("push with unknown platform", make_event(1, event_name="Notification Received Web",
                                               message={"platform": "tv", "token": "t"}), "message.platform", None),
    ("message on a user event", make_event(1, message={"to": "x"}), "message", None),
]


@pytest.mark.parametrize("event, field, rule", [m[1:] for m in MESSAGE_ERRORS], ids=[m[0] for m in MESSAGE_ERRORS])
def test_messages_are_validated_per_channel(api, event, field, rule):
    body = ok(api("/events", {"events": [event]}))
    assert body["accepted"] == 0
    (only,) = body["rejected"]
    assert only["field"] == field
    if rule:
        assert only["rule"] == rule
    assert "\n" not in only["rule"]
    assert not SentMessage.objects.exists()


# --- the dispatch point ------------------------------------------------------------------
class Received(list):
    """(tenant, event_ids) per signal; `.messages` the message_event_ids of each."""

    messages: list


@pytest.fixture
def received():
    calls = Received()

    def receiver(sender, *, tenant, event_ids, message_event_ids, **kwargs):
        calls.append((tenant, list(event_ids)))
        received_messages.append(list(message_event_ids))

    received_messages = []
    calls.messages = received_messages

    events_ingested.connect(receiver, dispatch_uid="test_ingest_api.receiver")
    yield calls
    events_ingested.disconnect(dispatch_uid="test_ingest_api.receiver")


def test_events_ingested_is_sent_after_commit_with_the_new_ids(api, tenant_a, received,
                                                                django_capture_on_commit_callbacks):
    ok(api("/events", {"events": [make_event(1)]}))
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ok(api("/events", {"events": [make_event(1), make_event(2), make_event(3)]}))
        assert received == []  # not before the commit
    for callback in callbacks:
        callback()
    new = Event.objects.filter(event_uuid__in=["uuid-2", "uuid-3"]).order_by("seq")
    new_ids = list(new.values_list("id", flat=True))
    assert received == [(tenant_a, new_ids)]
    assert received.messages == [[]]


def test_the_events_carrying_a_message_are_named(api, tenant_a, received, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        ok(api("/events", {"events": [make_event(1), email_sent_event(2), make_event(3)]}))
    sent = Event.objects.get(event_uuid=email_sent_event(2)["event_uuid"])
    assert received.messages == [[sent.pk]]


def test_nothing_is_sent_when_nothing_new_was_stored(api, tenant_a, received, django_capture_on_commit_callbacks):
    ok(api("/events", {"events": [make_event(1)]}))
    with django_capture_on_commit_callbacks(execute=True):
        ok(api("/events", {"events": [make_event(1), {"bad": True}]}))
    assert received == []


def test_nothing_is_sent_when_the_transaction_rolls_back(tenant_a, received, django_capture_on_commit_callbacks):
    with (django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(RuntimeError),
          transaction.atomic()):
        events_ingest(tenant=tenant_a, items=[make_event(1)])
        raise RuntimeError("the caller's transaction fails after ingest")
    assert callbacks == [] and received == []
    assert not Event.objects.exists()


def test_a_failing_receiver_does_not_affect_others_or_the_answer(api, tenant_a, received,
                                                                  django_capture_on_commit_callbacks):
    def broken(sender, **kwargs):
        raise ValueError("feature bug")

    events_ingested.connect(broken, dispatch_uid="test_ingest_api.broken")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = api("/events", {"events": [make_event(1)]})
    finally:
        events_ingested.disconnect(dispatch_uid="test_ingest_api.broken")
    assert ok(response)["accepted"] == 1
    assert len(received) == 1


# --- the schema and docs --------------------------------------------------------------------
def test_openapi_schema_describes_the_events_endpoint(client, db):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    components = schema["components"]["schemas"]
    assert {"EventIn", "EmailMessage", "SmsMessage", "PushMessage", "IngestResult"} <= set(components)
    assert {"uid", "event_code", "event_name", "event_uuid", "event_time"} <= set(components["EventIn"]["required"])
    assert "from" in components["EmailMessage"]["properties"]
    post = schema["paths"]["/api/v1/events"]["post"]
    body = post["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["events"]["items"] == {"$ref": "#/components/schemas/EventIn"}
    assert {"200", "400", "401", "413"} <= set(post["responses"])
    assert post["security"] == [{"ApiKeyAuth": []}]
    assert schema["components"]["securitySchemes"]["ApiKeyAuth"] == {"type": "http", "scheme": "bearer"}
    assert "5000 events" in schema["info"]["description"]  # the documented limits


def test_browsable_docs_are_served(client, db):
    response = client.get("/api/v1/docs")
    assert response.status_code == 200
    assert b"openapi.json" in response.content


def test_a_full_batch_at_the_limit_is_stored(api, settings, tenant_a):
    count = settings.MKTOPS_API_MAX_EVENTS
    events = [make_event(i, uid=f"u-{i}", user_attributes={f"attr_{i % 50}": i}, push_id=f"tok-{i}",
                         device_attributes={"platform": "web"}) for i in range(count)]
    body = ok(api("/events", {"events": events}))
    assert body["accepted"] == count
    assert Contact.objects.filter(tenant=tenant_a).count() == count
    assert Device.objects.filter(contact__tenant=tenant_a).count() == count
    again = ok(api("/events", {"events": events}))
    assert (again["accepted"], again["duplicates"]) == (0, count)


def test_an_updated_contact_is_found_by_its_update_time(api, tenant_a):
    ok(api("/events", {"events": [make_event(1, uid="c", user_attributes={"a": 1})]}))
    before = Contact.objects.get(uid="c").updated_at
    ok(api("/events", {"events": [make_event(2, uid="c", user_attributes={"a": 2})]}))
    contact = Contact.objects.get(uid="c")
    assert contact.updated_at >= before
    # compared in the database, where SQLite compares the stored text
    assert Contact.objects.filter(pk=contact.pk, updated_at=contact.updated_at).exists()
    assert Contact.objects.filter(pk=contact.pk, updated_at__gte=before).exists()
