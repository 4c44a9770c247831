"""From an ingested event to a signed POST on the real loopback receiver, verified with the
standardwebhooks library; retries on the mktops clock; 410, 429 Retry-After, redirects; pause."""

from datetime import timedelta

import pytest
from django.db.models import F

from mktops.jobs import ACTIVE, JobStatus
from tests.webhooks.conftest import messages_of, run, typed_event, verified
from webhooks import http, tasks
from webhooks.models import Attempt, Endpoint, EndpointStatus, Message, Outcome
from webhooks.services import delivery
from webhooks.services import endpoints as svc

pytestmark = pytest.mark.django_db


def test_an_event_of_a_subscribed_type_is_posted_signed_with_the_standard_headers(endpoint, ingest,
                                                                                  http_receiver):
    ingest(typed_event(1), typed_event(2, "prize.points_added"), typed_event(3, event_code="PURCHASE"))
    [message] = messages_of(endpoint)
    assert run(endpoint) == 1
    [request] = http_receiver.wait_for(1)
    body = verified(request, endpoint.secret)
    assert body["type"] == "receipt.receipt_validated"
    assert body["data"]["event_uuid"] == "uuid-1" and body["data"]["event_attributes"] == {"amount": 101}
    assert body["timestamp"].startswith("2026-") and request.path == "/hook"
    assert request.headers["webhook-id"] == message.webhook_id
    message.refresh_from_db()
    assert message.status == JobStatus.DONE
    [attempt] = Attempt.objects.filter(message=message)
    assert attempt.outcome == Outcome.SUCCESS and attempt.http_status == 200 and attempt.response_excerpt == "ok"


def test_during_a_rotation_overlap_both_secrets_sign_and_either_verifies(endpoint, operator_a, ingest,
                                                                         http_receiver, clock):
    old = endpoint.secret
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=True)
    ingest(typed_event(1))
    run(endpoint)
    [request] = http_receiver.wait_for(1)
    assert len(request.headers["webhook-signature"].split(" ")) == 2
    verified(request, old)
    verified(request, endpoint.secret)
    clock.advance(timedelta(hours=25))
    ingest(typed_event(2))
    run(endpoint)
    later = http_receiver.wait_for(2)[1]
    assert len(later.headers["webhook-signature"].split(" ")) == 1
    verified(later, endpoint.secret)
    with pytest.raises(AssertionError):
        verified(later, old)


def test_a_rotation_without_overlap_stops_the_old_secret_at_once(endpoint, operator_a, ingest, http_receiver):
    old = endpoint.secret
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=False)
    ingest(typed_event(1))
    run(endpoint)
    [request] = http_receiver.wait_for(1)
    verified(request, endpoint.secret)
    with pytest.raises(AssertionError):
        verified(request, old)


def test_retries_follow_the_schedule_with_the_same_webhook_id_then_fail(endpoint, ingest, http_receiver, clock):
    http_receiver.default_status = 500
    ingest(typed_event(1))
    [message] = messages_of(endpoint)
    run(endpoint)
    for delay in delivery.RETRY_DELAYS:
        message.refresh_from_db()
        assert message.status == JobStatus.RETRYING
        assert message.next_attempt_at - message.last_attempt_at == delay
        assert run(endpoint) == 0  # not due yet
        clock.advance(delay)
        run(endpoint)
    message.refresh_from_db()
    assert message.status == JobStatus.FAILED and message.attempts == 8
    requests = http_receiver.wait_for(8)
    assert len(requests) == 8 and {r.headers["webhook-id"] for r in requests} == {message.webhook_id}
    for request in requests:
        verified(request, endpoint.secret)
    assert Attempt.objects.filter(message=message, outcome=Outcome.HTTP_ERROR, http_status=500).count() == 8


def test_a_success_after_failures_is_delivered_and_the_endpoint_healthy_again(endpoint, ingest, http_receiver,
                                                                              clock):
    http_receiver.script([503, 500])
    ingest(typed_event(1))
    run(endpoint)
    clock.advance(timedelta(seconds=5))
    run(endpoint)
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is not None
    clock.advance(timedelta(minutes=5))
    assert run(endpoint) == 1
    assert Endpoint.objects.get(pk=endpoint.pk).failing_since is None
    assert [r.status for r in http_receiver.wait_for(3)] == [503, 500, 200]


def test_429_with_retry_after_waits_as_long_as_asked(endpoint, ingest, http_receiver):
    http_receiver.script([429])
    http_receiver.response_headers = {"Retry-After": "120"}
    ingest(typed_event(1))
    run(endpoint)
    [message] = messages_of(endpoint)
    assert message.status == JobStatus.RETRYING
    assert message.next_attempt_at - message.last_attempt_at == timedelta(seconds=120)


def test_a_retry_after_shorter_than_the_schedule_does_not_hurry_the_retry(endpoint, ingest, http_receiver):
    http_receiver.script([503])
    http_receiver.response_headers = {"Retry-After": "0"}
    ingest(typed_event(1))
    run(endpoint)
    [message] = messages_of(endpoint)
    assert message.next_attempt_at - message.last_attempt_at == delivery.RETRY_DELAYS[0]
    assert len(http_receiver.requests) == 1


def test_410_disables_the_endpoint_and_keeps_the_rest_for_a_resume(endpoint, operator_a, ingest, http_receiver):
    http_receiver.script([410])
    ingest(typed_event(1), typed_event(2))
    run(endpoint)
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DISABLED and endpoint.status_reason == delivery.DISABLED_GONE
    first, second = messages_of(endpoint)
    assert first.status == JobStatus.FAILED and second.status in ACTIVE and second.next_attempt_at is None
    ingest(typed_event(3))
    assert len(messages_of(endpoint)) == 2  # a disabled endpoint gets nothing new
    assert svc.endpoint_resume(endpoint=endpoint, by=operator_a) == 1
    run(endpoint)
    assert [r.json()["data"]["event_uuid"] for r in http_receiver.wait_for(2)] == ["uuid-1", "uuid-2"]


def test_a_redirect_is_not_followed_and_counts_as_a_failure(endpoint, ingest, http_receiver):
    http_receiver.script([302])
    http_receiver.response_headers = {"Location": "http://127.0.0.1:1/elsewhere"}
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert attempt.outcome == Outcome.REDIRECT and attempt.http_status == 302
    assert len(http_receiver.requests) == 1
    assert messages_of(endpoint)[0].status == JobStatus.RETRYING


def test_five_days_of_uninterrupted_failure_disable_the_endpoint(endpoint, ingest, http_receiver, clock):
    http_receiver.default_status = 500
    ingest(typed_event(1))
    run(endpoint)
    clock.advance(timedelta(days=2))
    ingest(typed_event(2))
    run(endpoint)
    assert Endpoint.objects.get(pk=endpoint.pk).status == EndpointStatus.ACTIVE
    assert delivery.disable_warning(endpoint=Endpoint.objects.get(pk=endpoint.pk)) is not None
    clock.advance(timedelta(days=3))
    assert tasks.sweep()["disabled"] == 1
    endpoint.refresh_from_db()
    assert endpoint.status == EndpointStatus.DISABLED and endpoint.status_reason == delivery.DISABLED_FAILING


def test_the_far_sides_bytes_are_data_in_the_log_never_in_the_sentence(endpoint, ingest, http_receiver):
    http_receiver.default_status = 500
    http_receiver.response_body = b"INTERNAL-SECRET: <script>x</script>" + b"y" * 5000
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    message = messages_of(endpoint)[0]
    assert "INTERNAL-SECRET" not in attempt.error and "INTERNAL-SECRET" not in message.last_error
    assert attempt.response_excerpt.startswith("INTERNAL-SECRET")
    assert len(attempt.response_excerpt) == http.EXCERPT_BYTES


def test_a_refused_connection_is_recorded_in_words(endpoint, ingest, http_receiver):
    http_receiver.stop()
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert attempt.outcome == Outcome.CONNECTION_REFUSED
    assert attempt.error == http.MESSAGES[http.EndpointError.CONNECTION_REFUSED]


def test_a_timeout_is_recorded_and_retried(endpoint, ingest, http_receiver, monkeypatch):
    monkeypatch.setattr(http, "TIMEOUT_SECONDS", 0.5)
    http_receiver.script([(200, 2.0)])
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert attempt.outcome == Outcome.TIMEOUT
    assert messages_of(endpoint)[0].status == JobStatus.RETRYING


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_private_address_is_refused_at_connect_when_private_targets_are_off(new_endpoint, ingest, http_receiver,
                                                                             settings, host):
    # saved while private targets were allowed (as in the demo); the connect-time check still refuses
    endpoint = new_endpoint(url=f"http://{host}:{http_receiver.port}/hook")
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    ingest(typed_event(1))
    run(endpoint)
    [attempt] = Attempt.objects.all()
    assert not http_receiver.requests
    # plain http is refused first; over https the loopback address would be
    assert attempt.outcome in (Outcome.BLOCKED, Outcome.BAD_URL)
    Endpoint.objects.filter(pk=endpoint.pk).update(url=f"https://{host}:{http_receiver.port}/hook")
    Message.objects.filter(endpoint=endpoint).update(next_attempt_at=F("last_attempt_at"))  # due again
    run(endpoint)
    assert Attempt.objects.order_by("-pk").first().outcome == Outcome.BLOCKED and not http_receiver.requests


def test_pause_keeps_the_events_and_resume_delivers_them_in_order(endpoint, operator_a, ingest, http_receiver):
    svc.endpoint_pause(endpoint=endpoint, by=operator_a)
    ingest(*[typed_event(i) for i in range(1, 6)])
    assert run(endpoint) == 0 and not http_receiver.requests
    assert svc.backlog_size(endpoint=endpoint) == 5
    assert svc.endpoint_resume(endpoint=endpoint, by=operator_a) == 5
    assert run(endpoint) == 5
    assert [r.json()["data"]["event_uuid"] for r in http_receiver.wait_for(5)] == [f"uuid-{i}" for i in range(1, 6)]


def test_one_row_per_event_and_endpoint_even_when_the_sweep_sees_it_again(new_endpoint, ingest, http_receiver):
    one = new_endpoint(name="one")
    two = new_endpoint(name="two", event_types=["receipt.receipt_validated", "message.first_open"])
    ingest(typed_event(1), typed_event(2, "message.first_open"))
    assert len(messages_of(one)) == 1 and len(messages_of(two)) == 2
    assert tasks.sweep()["endpoints"] == 2
    assert Message.objects.count() == 3


def test_a_rerun_after_the_work_is_done_sends_nothing_twice(endpoint, ingest, http_receiver):
    ingest(typed_event(1))
    run(endpoint)
    run(endpoint)
    assert len(http_receiver.wait_for(1)) == 1


def test_a_worker_that_died_mid_delivery_is_taken_over_after_its_lease(endpoint, ingest, http_receiver, clock):
    from mktops.jobs import claim

    ingest(typed_event(1))
    [message] = messages_of(endpoint)
    assert claim(Message, message.pk) is not None  # a worker took it, then died
    assert run(endpoint) == 0
    clock.advance(Message.LEASE + timedelta(seconds=1))
    assert run(endpoint) == 1
    assert len(http_receiver.wait_for(1)) == 1


def test_a_first_open_carries_the_event_id_the_sender_gave(new_endpoint, ingest, http_receiver):
    endpoint = new_endpoint(event_types=["message.first_open"])
    ingest(typed_event(1, "message.first_open", event_attributes={"event_id": "push-42", "message_id": "m1"}),
           typed_event(2, "message.first_open", event_attributes={"message_id": "m2"}))
    assert run(endpoint) == 2
    given, not_given = [verified(r, endpoint.secret)["data"] for r in http_receiver.wait_for(2)]
    assert given["event_id"] == "push-42" and given["event_attributes"]["message_id"] == "m1"
    assert "event_id" not in not_given
