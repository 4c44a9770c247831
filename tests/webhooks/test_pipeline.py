"""The receiver only records rows and enqueues; the sweep picks up what a receiver missed;
the health panel's figures."""

from datetime import timedelta

import pytest
from django_q.brokers import get_broker
from django_q.signing import SignedPackage

from mktops import clock as mk_clock
from mktops.models import Event
from tests.webhooks.conftest import messages_of, run, typed_event
from webhooks import tasks
from webhooks.models import Message, Outcome
from webhooks.services import health

pytestmark = pytest.mark.django_db


def _dequeued(broker, func: str) -> list[dict]:
    found = []
    for _ in range(50):
        for _, package in broker.dequeue() or []:
            task = SignedPackage.loads(package)
            if task["func"] == func:
                found.append(task)
        if found:
            return found
    raise AssertionError(f"no {func} task was enqueued")


def test_the_receiver_records_rows_and_enqueues_one_task_per_endpoint(new_endpoint, api, http_receiver,
                                                                       django_capture_on_commit_callbacks):
    one = new_endpoint(name="one")
    new_endpoint(name="two", event_types=["prize.points_added"])
    broker = get_broker()
    broker.purge_queue()
    with django_capture_on_commit_callbacks(execute=True):
        assert api("/events", {"events": [typed_event(1), typed_event(2)]}).status_code == 200
    assert len(messages_of(one)) == 2 and Message.objects.count() == 2
    assert not http_receiver.requests  # nothing is sent during ingestion
    [task] = _dequeued(broker, "webhooks.tasks.deliver_endpoint")
    assert task["args"] == (one.pk,)
    assert tasks.deliver_endpoint(*task["args"], wait_seconds=0) == 2


def test_the_sweep_records_what_a_failed_receiver_missed(endpoint, ingest):
    ingest(typed_event(1))
    Message.objects.all().delete()  # as if the receiver had failed
    assert tasks.sweep()["endpoints"] == 1
    assert [m.event_id for m in messages_of(endpoint)] == [Event.objects.get().pk]
    assert run(endpoint) == 1


def test_health_counts_the_last_24_hours(endpoint, ingest, http_receiver, clock):
    http_receiver.script([500])
    ingest(typed_event(1))
    run(endpoint)
    clock.advance(timedelta(seconds=5))
    run(endpoint)
    h = health.endpoint_health(endpoint=endpoint)
    assert h.attempts == 2 and h.success_rate == 0.5 and h.oldest_undelivered is None
    assert h.by_outcome == {Outcome.HTTP_ERROR: 1, Outcome.SUCCESS: 1} and h.p95_latency_ms is not None
    assert len(h.by_hour) == 24 and sum(ok for _, ok, _ in h.by_hour) == 1
    assert sum(failed for _, _, failed in h.by_hour) == 1 and h.by_hour[-1][1:] == (1, 1)
    mk_clock.advance(timedelta(hours=25))
    assert health.endpoint_health(endpoint=endpoint).attempts == 0


def test_the_sweep_finds_a_missed_batch_behind_many_newer_events(endpoint, ingest, monkeypatch, http_receiver):
    from webhooks.services import delivery

    ingest(*[typed_event(i) for i in range(1, 8)])
    oldest = sorted(Event.objects.values_list("pk", flat=True))[:2]
    Message.objects.filter(event_id__in=oldest).delete()  # as if the receiver had failed for those
    monkeypatch.setattr(delivery, "BACKFILL_SCAN", 2)  # pages of two: the missed ones are pages back
    assert tasks.sweep()["endpoints"] == 1
    assert sorted(m.event_id for m in messages_of(endpoint)) == sorted(Event.objects.values_list("pk", flat=True))
    assert run(endpoint) == 7


def test_a_slow_endpoint_takes_turns_its_task_queues_itself_again_after_its_slice(endpoint, ingest, http_receiver):
    broker = get_broker()
    ingest(*[typed_event(i) for i in range(1, 11)])
    broker.purge_queue()
    http_receiver.delay = 0.3  # each answer takes a while
    delivered = tasks.deliver_endpoint(endpoint.pk, 0, None, 0.5)
    assert 1 <= delivered < 10
    rest = [m for m in messages_of(endpoint) if m.status != "done"]
    assert rest and all(m.status == "pending" and m.attempts == 0 and not m.lease_owner for m in rest)
    [task] = _dequeued(broker, "webhooks.tasks.deliver_endpoint")
    assert task["args"] == (endpoint.pk, 0, None, 0.5)  # behind the other tasks in the queue
    http_receiver.delay = 0
    assert run(endpoint) == 10 - delivered
    assert [r.json()["data"]["event_uuid"] for r in http_receiver.requests] == [f"uuid-{i}" for i in range(1, 11)]
