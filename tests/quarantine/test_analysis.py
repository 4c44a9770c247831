"""POST /api/v1/deliveries/{id}/analysis and the service under it, on whichever database runs."""

import pytest
from django.core.exceptions import ValidationError

from mktops import services
from mktops.models import AuditLog
from quarantine import analysis
from quarantine.addresses import BAD_EMAIL
from quarantine.analysis import delivery_analyse
from quarantine.api_analysis import MAX_TARGETS
from quarantine.blocklist import blocklist_add
from quarantine.models import Delivery, DeliveryExclusion
from tests.quarantine.analysis_helpers import contact, entry

URL = "/deliveries/{}/analysis"


@pytest.fixture(autouse=True, params=["join", "memory"])
def analysis_way(request, monkeypatch):
    """Every test of this file through both ways of quarantine.analysis: the join in the database
    on PostgreSQL, the indexed lookups chunk by chunk on SQLite (what a small analysis takes), and
    the lists in memory (a large one), taken here from the first target on."""
    if request.param == "memory":
        monkeypatch.setattr(analysis, "MEMORY_FROM_TARGETS", 1)
        monkeypatch.setattr(analysis, "ENTRIES_PER_TARGET", 10**9)
    else:
        monkeypatch.setattr(analysis, "MEMORY_FROM_TARGETS", MAX_TARGETS + 1)
    return request.param


@pytest.fixture
def book(tenant_a):
    """Tenant A's quarantine: one address of each status, and Zoe who opted out of email."""
    entry(tenant_a, "q@example.com", "quarantined")
    entry(tenant_a, "d@example.com", "denylisted", error_type="", error_reason="")
    entry(tenant_a, "allow@example.com", "allowlisted")
    entry(tenant_a, "valid@example.com", "valid", error_type="soft", error_reason="mailbox_full")
    zoe = contact(tenant_a, "zoe", email="allow@example.com")
    blocklist_add(contact=zoe, channel="email", note="unsubscribed")
    return tenant_a


def test_the_answer_counts_each_outcome_and_lists_the_excluded(api, book):
    targets = [
        {"uid": "u1", "address": "Q@Example.com "},      # quarantined, whatever the case
        {"uid": "u2", "address": "d@example.com"},       # on denylist
        {"uid": "u3", "address": "allow@example.com"},   # allowlisted: targeted
        {"uid": "u4", "address": "valid@example.com"},   # valid entry: targeted
        {"uid": "u5", "address": "new@example.com"},     # unknown to quarantine: targeted
        {"uid": "zoe", "address": "allow@example.com"},  # opted out: the opt-out beats the allowlist
        {"uid": "u6", "address": "q@example.com"},       # two contacts, one quarantined address: both out
    ]
    response = api(URL.format("dlv-1"), {"channel": "email", "targets": targets})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["targets"] == 7 and body["to_send"] == 3 and body["excluded_count"] == 4
    assert body["counts"] == {"blocklisted": 1, "denylisted": 1, "quarantined": 2}
    assert body["excluded"] == [
        {"index": 0, "uid": "u1", "address": "Q@Example.com ", "reason": "quarantined"},
        {"index": 1, "uid": "u2", "address": "d@example.com", "reason": "denylisted"},
        {"index": 5, "uid": "zoe", "address": "allow@example.com", "reason": "blocklisted"},
        {"index": 6, "uid": "u6", "address": "q@example.com", "reason": "quarantined"},
    ]
    assert body["rejected"] == []


def test_each_exclusion_is_logged_against_the_delivery(api, book):
    targets = [{"uid": "u1", "address": "Q@example.com"}, {"uid": "zoe", "address": "zoe@other.example"},
               {"uid": "u5", "address": "new@example.com"}]
    api(URL.format("dlv-log"), {"channel": "email", "targets": targets})
    api(URL.format("dlv-log"), {"channel": "email", "targets": [{"uid": "u2", "address": "d@example.com"}]})
    delivery = Delivery.objects.get(tenant=book, delivery_id="dlv-log")
    assert (delivery.analyses, delivery.targets, delivery.to_send) == (2, 4, 1)
    assert (delivery.quarantined, delivery.denylisted, delivery.blocklisted) == (1, 1, 1)
    logged = list(DeliveryExclusion.objects.filter(delivery=delivery).values_list("uid", "address", "reason"))
    # the log keeps the normalised address, the key quarantine knows it by
    assert logged == [("u1", "q@example.com", "quarantined"), ("zoe", "zoe@other.example", "blocklisted"),
                      ("u2", "d@example.com", "denylisted")]
    assert set(DeliveryExclusion.objects.values_list("tenant_id", flat=True)) == {book.pk}


def test_a_bad_item_is_rejected_by_index_and_the_rest_answered(api, book):
    targets = [{"uid": "u1", "address": "q@example.com"}, {"uid": "u2", "address": "not-an-address"},
               {"address": "q@example.com"}, "x", {"uid": "u3", "address": "q@example.com", "name": "x"},
               {"uid": "u4", "address": "a\x00@example.com"}, {"uid": "u5", "address": "new@example.com"}]
    response = api(URL.format("dlv-bad"), {"channel": "email", "targets": targets})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rejected"] == [
        {"index": 1, "field": "address", "rule": BAD_EMAIL},
        {"index": 2, "field": "uid", "rule": analysis.RULE_UID},
        {"index": 3, "field": "target", "rule": analysis.RULE_TARGET},
        {"index": 4, "field": "name", "rule": analysis.RULE_UNKNOWN_FIELD},
        {"index": 5, "field": "address", "rule": analysis.RULE_NUL},
    ]
    assert [x["index"] for x in body["excluded"]] == [0]
    assert (body["targets"], body["to_send"], body["excluded_count"]) == (7, 1, 1)
    assert Delivery.objects.get(delivery_id="dlv-bad").rejected == 5


def test_sms_and_push_targets_are_matched_normalised(api, tenant_a):
    entry(tenant_a, "+4915112345678", channel="sms")
    entry(tenant_a, "tok-1", channel="push")
    sms = api(URL.format("dlv-sms"), {"channel": "sms", "targets": [
        {"uid": "a", "address": "+49 151 1234 5678"}, {"uid": "b", "address": "+4915199999999"}]}).json()
    assert [(x["uid"], x["reason"]) for x in sms["excluded"]] == [("a", "quarantined")]
    push = api(URL.format("dlv-push"), {"channel": "push", "targets": [
        {"uid": "a", "address": "tok-1"}, {"uid": "b", "address": "TOK-1"}]}).json()
    # push tokens are kept as given: another case is another token
    assert [x["uid"] for x in push["excluded"]] == ["a"]


def test_a_push_token_with_nul_is_rejected_though_the_shortcut_would_keep_it(api, tenant_a):
    entry(tenant_a, "tok-1", channel="push")
    body = api(URL.format("dlv-push-nul"), {"channel": "push", "targets": [
        {"uid": "a", "address": "tok\x00-1"}, {"uid": "b", "address": " tok-1 "},
        {"uid": "c", "address": "tok-1"}]}).json()
    assert body["rejected"] == [{"index": 0, "field": "address", "rule": analysis.RULE_NUL}]
    assert [(x["uid"], x["address"]) for x in body["excluded"]] == [("b", " tok-1 "), ("c", "tok-1")]


def test_an_email_entry_does_not_exclude_on_another_channel_or_tenant(api, tenant_a, tenant_b):
    entry(tenant_b, "q@example.com")
    entry(tenant_a, "+4915112345678", channel="sms")
    body = api(URL.format("dlv-x"), {"channel": "email", "targets": [{"uid": "a", "address": "q@example.com"}]}).json()
    assert body["excluded"] == [] and body["to_send"] == 1


def test_the_blocklist_covers_every_address_of_the_contact_and_only_its_channel(api, tenant_a):
    ann = contact(tenant_a, "ann", email="ann@example.com", mobile="+4915100000001", tokens=["t-1", "t-2"])
    blocklist_add(contact=ann, channel="push")
    push = api(URL.format("p"), {"channel": "push", "targets": [{"uid": "ann", "address": "t-1"},
                                                                 {"uid": "ann", "address": "t-2"},
                                                                 {"uid": "bob", "address": "t-1"}]}).json()
    assert [(x["uid"], x["address"], x["reason"]) for x in push["excluded"]] == [
        ("ann", "t-1", "blocklisted"), ("ann", "t-2", "blocklisted")]
    email = api(URL.format("e"), {"channel": "email", "targets": [{"uid": "ann", "address": "ann@example.com"}]})
    assert email.json()["excluded"] == []


def test_100000_targets_are_accepted(api, tenant_a):
    entry(tenant_a, "user7@example.com")
    targets = [{"uid": f"u{i}", "address": f"user{i}@example.com"} for i in range(MAX_TARGETS)]
    response = api(URL.format("big"), {"channel": "email", "targets": targets})
    assert response.status_code == 200, response.content[:300]
    body = response.json()
    assert (body["targets"], body["to_send"], body["excluded"]) == (
        MAX_TARGETS, MAX_TARGETS - 1, [{"index": 7, "uid": "u7", "address": "user7@example.com",
                                        "reason": "quarantined"}])


def test_100001_targets_are_refused_with_a_clear_error(api, tenant_a):
    targets = [{"uid": f"u{i}", "address": f"user{i}@example.com"} for i in range(MAX_TARGETS + 1)]
    response = api(URL.format("too-big"), {"channel": "email", "targets": targets})
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The request holds 100001 targets; the limit is 100000 per request: split the delivery's targets "
        "over several requests.")
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("payload, words", [
    ([], 'The body must be a JSON object {"channel": ..., "targets": [...]}.'),
    ({"targets": []}, 'The body must be a JSON object {"channel": ..., "targets": [...]}.'),
    ({"channel": "email", "targets": [], "extra": 1}, "Unknown top-level field(s): extra"),
    ({"channel": "email", "targets": {}}, '"targets" must be a list'),
    ({"channel": "fax", "targets": []}, "channel: " + analysis.ERR_CHANNEL),
])
def test_a_body_of_another_shape_is_400(api, tenant_a, payload, words):
    response = api(URL.format("d"), payload)
    assert response.status_code == 400
    assert words in response.json()["detail"]


@pytest.mark.parametrize("delivery_id", ["x" * 101, "a%00b", "%20"])
def test_a_delivery_id_too_long_blank_or_with_nul_is_400(api, tenant_a, delivery_id):
    response = api(URL.format(delivery_id), {"channel": "email", "targets": []})
    assert response.status_code == 400
    assert response.json()["detail"] == "delivery_id: " + analysis.ERR_DELIVERY_ID
    assert not Delivery.objects.exists()


def test_a_delivery_keeps_its_channel(api, tenant_a):
    api(URL.format("one"), {"channel": "email", "targets": []})
    response = api(URL.format("one"), {"channel": "sms", "targets": []})
    assert response.status_code == 400
    assert "analysed for email before" in response.json()["detail"]


def test_without_a_valid_key_it_is_401_and_nothing_is_logged(api, book):
    body = {"channel": "email", "targets": [{"uid": "u1", "address": "q@example.com"}]}
    assert api(URL.format("k"), body, key=None).status_code == 401
    assert api(URL.format("k"), body, key="mk_not-a-key").status_code == 401
    assert not Delivery.objects.exists()


def test_tenant_b_key_sees_only_tenant_b(api, book, tenant_b):
    _, key_b = services.api_key_create(tenant=tenant_b, name="b")
    body = api(URL.format("dlv-1"), {"channel": "email", "targets": [
        {"uid": "u1", "address": "q@example.com"}, {"uid": "zoe", "address": "z@example.com"}]}, key=key_b).json()
    assert body["excluded"] == []
    assert Delivery.objects.get().tenant == tenant_b


def test_the_schema_documents_the_route(client, db):
    operation = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/deliveries/{delivery_id}/analysis"]["post"]
    assert {"200", "400", "401", "413", "415"} <= set(operation["responses"])
    body = operation["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"]["targets"]["maxItems"] == MAX_TARGETS
    assert body["required"] == ["channel", "targets"]


def test_the_service_reads_targets_as_a_stream_in_chunks(book, monkeypatch):
    monkeypatch.setattr(analysis, "CHUNK", 2)
    targets = ((f"u{i}", "q@example.com" if i % 3 == 0 else f"n{i}@example.com") for i in range(10))
    outcome = delivery_analyse(tenant=book, delivery_id="stream", channel="email", targets=targets)
    assert [x[0] for x in outcome.excluded] == [0, 3, 6, 9]
    assert outcome.targets == 10 and outcome.to_send == 6


def test_the_service_refuses_a_bad_channel_naming_the_field(book):
    with pytest.raises(ValidationError) as exc:
        delivery_analyse(tenant=book, delivery_id="x", channel="fax", targets=[])
    assert exc.value.message_dict == {"channel": [analysis.ERR_CHANNEL]}
    assert not AuditLog.objects.filter(action__startswith="quarantine.analysis").exists()


def test_uids_and_tokens_with_tabs_and_backslashes_come_back_as_given(api, tenant_a):
    entry(tenant_a, "q@example.com")
    entry(tenant_a, "tok\\en\twith", channel="push")
    email = api(URL.format("esc"), {"channel": "email", "targets": [{"uid": "a\tb\\c", "address": "q@example.com"}]})
    assert email.json()["excluded"] == [{"index": 0, "uid": "a\tb\\c", "address": "q@example.com",
                                         "reason": "quarantined"}]
    push = api(URL.format("esc-push"), {"channel": "push", "targets": [{"uid": "u", "address": "tok\\en\twith"}]})
    assert [x["address"] for x in push.json()["excluded"]] == ["tok\\en\twith"]
    assert set(DeliveryExclusion.objects.values_list("uid", flat=True)) == {"a\tb\\c", "u"}


def test_a_blocklist_too_large_to_hold_is_looked_up_chunk_by_chunk(book, monkeypatch):
    monkeypatch.setattr(analysis, "BLOCKLIST_IN_MEMORY", 0)
    monkeypatch.setattr(analysis, "CHUNK", 2)
    outcome = delivery_analyse(tenant=book, delivery_id="big-blocklist", channel="email", targets=[
        ("a", "a@example.com"), ("zoe", "zoe@example.com"), ("b", "b@example.com"), ("zoe", "q@example.com")])
    assert [(x[0], x[4]) for x in outcome.excluded] == [(1, "blocklisted"), (3, "blocklisted")]


def test_a_deleted_tenant_leaves_no_exclusion_behind(book):
    delivery_analyse(tenant=book, delivery_id="gone", channel="email", targets=[("u", "q@example.com")])
    assert DeliveryExclusion.objects.count() == 1
    book.delete()
    assert not DeliveryExclusion.objects.exists() and not Delivery.objects.exists()


def test_two_analyses_of_one_new_delivery_at_once_both_count(transactional_db, tenant_a):
    import threading

    from django.db import connection

    entry(tenant_a, "q@example.com")
    start, errors = threading.Barrier(2), []

    def analyse(uid):
        try:
            start.wait()
            delivery_analyse(tenant=tenant_a, delivery_id="race", channel="email", targets=[(uid, "q@example.com")])
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=analyse, args=(uid,)) for uid in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    delivery = Delivery.objects.get(delivery_id="race")
    assert (delivery.analyses, delivery.targets, delivery.quarantined) == (2, 2, 2)
    assert sorted(DeliveryExclusion.objects.values_list("uid", flat=True)) == ["a", "b"]


def test_lists_too_large_to_hold_are_joined_in_the_database(book, monkeypatch):
    monkeypatch.setattr(analysis, "MEMORY_FROM_TARGETS", 1)
    monkeypatch.setattr(analysis, "ENTRIES_PER_TARGET", 10**9)
    monkeypatch.setattr(analysis, "ENTRIES_IN_MEMORY", 1)  # the book holds two excluding entries
    outcome = delivery_analyse(tenant=book, delivery_id="big-book", channel="email", targets=[
        ("a", "Q@example.com"), ("zoe", "new@example.com"), ("b", "d@example.com"), ("c", "valid@example.com")])
    assert [(x[0], x[4]) for x in outcome.excluded] == [(0, "quarantined"), (1, "blocklisted"), (2, "denylisted")]
    assert sorted(DeliveryExclusion.objects.values_list("uid", "address", "reason")) == [
        ("a", "q@example.com", "quarantined"), ("b", "d@example.com", "denylisted"),
        ("zoe", "new@example.com", "blocklisted")]


def test_a_chunk_of_common_targets_is_taken_whole_as_item_by_item():
    """_common_columns takes a chunk whole only where _prepare_each would take every item as it
    is; any other chunk goes item by item. Random chunks, mostly common, some with one odd item."""
    import random

    rng = random.Random(16)
    odd = [None, 7, "", " ", "u\x00", "x" * 256, " padded ", "a\tb", "Ann@Example.com", "ann@example.com ",
           "a@b.c\nd@e.fg", "tok\x00", "ann@localhost", "İ@example.com"]
    taken = 0
    for round_ in range(600):
        channel = rng.choice(["email", "email", "push", "sms"])
        size = rng.randint(1, 40)
        uids = [f"u{round_}-{k}" for k in range(size)]
        addresses = [f"n{k}@example{round_}.com" if channel != "sms" else f"+4420794600{k:02d}" for k in range(size)]
        if rng.random() < 0.5:
            k = rng.randrange(size)
            (uids if rng.random() < 0.5 else addresses)[k] = rng.choice(odd)
        shape = rng.choice(["dict", "tuple", "list"])
        chunk = [{"uid": u, "address": a} if shape == "dict" else (u, a) if shape == "tuple" else [u, a]
                 for u, a in zip(uids, addresses, strict=True)]
        if rng.random() < 0.1:
            chunk[rng.randrange(size)] = rng.choice([{"uid": "u", "address": "a@b.co", "x": 1}, {"uid": "u", "x": 1},
                                                      ("u",), "u", ("u", "a@b.co", "c")])
        start = rng.randint(0, 1000)
        whole, each = analysis.AnalysisOutcome(delivery=None), analysis.AnalysisOutcome(delivery=None)
        assert analysis._prepare(chunk, start, channel, whole) == analysis._prepare_each(chunk, start, channel, each)
        assert whole.rejected == each.rejected
        columns = analysis._common_columns(chunk, channel)
        if columns is not None:
            taken += 1
            assert each.rejected == [] and [t[2] for t in analysis._prepare_each(chunk, start, channel, each)] \
                == [t[3] for t in analysis._prepare_each(chunk, start, channel, each)]
    assert taken > 100  # the sample reaches the whole-chunk path, not only the other


def test_a_large_analysis_reads_ahead_to_know_it_is_large_enough(book, monkeypatch):
    """A target for every listed entry (here; the book: two excluding entries, one uid blocklisted)
    is read ahead once the lists are read; one fewer and the join is taken. The answer and the
    log are the same either way (the other tests), so the way taken is seen in the queries."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    monkeypatch.setattr(analysis, "MEMORY_FROM_TARGETS", 2)
    monkeypatch.setattr(analysis, "ENTRIES_PER_TARGET", 1)
    for count, in_memory in ((2, False), (3, True)):
        targets = iter([("zoe", "q@example.com")] + [(f"u{i}", f"n{i}@example.com") for i in range(count - 1)])
        with CaptureQueriesContext(connection) as queries:
            outcome = delivery_analyse(tenant=book, delivery_id=f"ahead-{count}", channel="email", targets=targets)
        assert [(x[0], x[4]) for x in outcome.excluded] == [(0, "blocklisted")] and outcome.targets == count
        # the join's temporary table on PostgreSQL, the chunk's lookups on SQLite
        other_way = "analysis_targets" if connection.vendor == "postgresql" else "json_each"
        assert any(other_way in q["sql"] for q in queries) is not in_memory, count
