"""webhooks.services.rows: the plain inserts of delivery and attempt rows (COPY, arrays with
conflicts skipped, multi-row INSERT on SQLite) store exactly what they were given."""

from mktops import clock
from webhooks.models import Attempt, Message, Outcome
from webhooks.services.rows import rows_insert

AWKWARD = 'tab\there, newline\nthere, back\\slash, "quotes", {braces}, \\N, NULL, Zoë 用户 😀, \r\n'


def _message(endpoint, event_id: int, body: str) -> dict:
    return {"tenant_id": endpoint.tenant_id, "endpoint_id": endpoint.pk, "event_id": event_id,
            "webhook_id": f"msg_rows_{event_id}", "event_type": "receipt.receipt_validated", "body": body,
            "next_attempt_at": None if event_id % 2 else clock.now()}


def test_delivery_rows_keep_their_text_and_skip_a_row_already_made(endpoint):
    rows_insert(Message, [_message(endpoint, 1, AWKWARD), _message(endpoint, 2, "{}")], ignore_conflicts=True)
    # the same event again (the sweep and the receiver both saw it): left as it was
    rows_insert(Message, [_message(endpoint, 1, "other"), _message(endpoint, 3, AWKWARD * 3)], ignore_conflicts=True)
    stored = {m.event_id: m for m in Message.objects.filter(endpoint=endpoint)}
    assert sorted(stored) == [1, 2, 3]
    assert stored[1].body == AWKWARD and stored[3].body == AWKWARD * 3
    assert stored[1].next_attempt_at is None and stored[2].next_attempt_at is not None
    assert stored[1].status == "pending" and stored[1].attempts == 0 and not stored[1].is_test
    assert stored[1].pk < stored[2].pk < stored[3].pk  # made in the order given


def test_attempt_rows_keep_their_values(endpoint):
    rows_insert(Message, [_message(endpoint, 1, "{}")], ignore_conflicts=True)
    message = Message.objects.get(endpoint=endpoint)
    at = clock.now()
    headers = {"webhook-id": message.webhook_id, "odd": AWKWARD}
    rows_insert(Attempt, [
        {"tenant_id": endpoint.tenant_id, "endpoint_id": endpoint.pk, "message_id": message.pk, "number": 1,
         "at": at, "outcome": Outcome.SUCCESS, "http_status": 200, "latency_ms": 3, "error": "",
         "response_excerpt": AWKWARD, "request_headers": headers},
        {"tenant_id": endpoint.tenant_id, "endpoint_id": endpoint.pk, "message_id": message.pk, "number": 2,
         "at": at, "outcome": "timeout", "http_status": None, "latency_ms": None, "error": "no answer",
         "response_excerpt": "", "request_headers": {}},
    ])
    first, second = Attempt.objects.filter(message=message).order_by("number")
    assert (first.at, first.http_status, first.response_excerpt, first.request_headers) == (at, 200, AWKWARD, headers)
    assert (second.http_status, second.latency_ms, second.error) == (None, None, "no answer")
    assert second.request_headers == {}
