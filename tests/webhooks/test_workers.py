"""Real worker processes: one killed with SIGKILL while the receiver holds its delivery's answer,
and two serving one endpoint at once. The state is in our rows: the killed worker's message is
delivered after its lease runs out or its heartbeat stops, with the same webhook-id, never lost,
never two attempt rows for one attempt number; two workers keep the endpoint's event order."""

from datetime import timedelta

import pytest

from mktops.jobs import JobStatus
from tests.webhooks.conftest import messages_of, run, typed_event, verified
from webhooks.models import Attempt, Message, Outcome

# the worker processes see only committed rows
pytestmark = pytest.mark.django_db(transaction=True)

HELD = 60  # seconds the receiver holds an answer: far longer than the test takes to kill the worker


def _attempt_numbers_are_unique(message: Message) -> list[int]:
    numbers = list(Attempt.objects.filter(message=message).order_by("number").values_list("number", flat=True))
    assert len(numbers) == len(set(numbers)), numbers
    return numbers


def _killed_mid_delivery(endpoint, ingest, http_receiver, workers, *, beat: bool, events: int = 1):
    """Events ingested; a worker process sends them; the last one's answer is held and the worker
    SIGKILLed while it waits. Returns the messages."""
    http_receiver.script([200] * (events - 1) + [(200, HELD)])
    ingest(*[typed_event(i) for i in range(1, events + 1)])
    worker = workers(endpoint, beat=beat)
    worker.go()
    http_receiver.wait_for(events, timeout=60)
    worker.kill()
    return messages_of(endpoint)


def test_a_worker_killed_mid_delivery_the_message_goes_out_again_after_the_lease(endpoint, ingest, http_receiver,
                                                                                 workers, clock):
    [message] = _killed_mid_delivery(endpoint, ingest, http_receiver, workers, beat=False)
    message.refresh_from_db()
    assert message.status == JobStatus.RUNNING and message.attempts == 1  # the dead worker's claim
    assert run(endpoint) == 0  # its lease still runs: nobody else sends it yet
    clock.advance(Message.LEASE + timedelta(seconds=1))
    assert run(endpoint) == 1
    first, second = http_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == message.webhook_id
    verified(second, endpoint.secret)
    message.refresh_from_db()
    assert message.status == JobStatus.DONE and message.attempts == 2
    # the killed attempt recorded nothing; the one that delivered is attempt 2
    assert _attempt_numbers_are_unique(message) == [2]
    assert Attempt.objects.get(message=message).outcome == Outcome.SUCCESS


def test_a_killed_worker_that_stops_beating_is_taken_over_before_its_lease_ends(endpoint, ingest, http_receiver,
                                                                                workers, clock, settings):
    settings.MKTOPS_WORKER_HEARTBEAT_SECONDS = 1  # as the worker process beats
    messages = _killed_mid_delivery(endpoint, ingest, http_receiver, workers, beat=True, events=3)
    # four missed beats and the worker is gone, well before the 2 minutes of its lease
    clock.advance(timedelta(seconds=6))
    assert run(endpoint) >= 1
    for message in messages:
        message.refresh_from_db()
        assert message.status == JobStatus.DONE
        _attempt_numbers_are_unique(message)
    requests = http_receiver.requests
    ids = [m.webhook_id for m in messages]
    assert {r.headers["webhook-id"] for r in requests} == set(ids)  # nothing but these, each arrived
    # in event order: the first arrival of each message, and the takeover starts where the dead
    # worker's record ends (what it sent but had not recorded goes again, with the same id)
    assert list(dict.fromkeys(r.headers["webhook-id"] for r in requests)) == ids
    taken_over = [r.headers["webhook-id"] for r in requests[3:]]
    assert taken_over == ids[len(ids) - len(taken_over):]


def test_two_workers_on_one_endpoint_deliver_in_event_order(endpoint, ingest, http_receiver, workers):
    count = 30
    http_receiver.delay = 0.02  # each answer takes a moment: the workers' turns overlap
    ingest(*[typed_event(i) for i in range(1, count + 1)])
    pair = [workers(endpoint, batch=3, until_done=True) for _ in range(2)]
    for worker in pair:
        worker.go()
    assert sum(worker.delivered() for worker in pair) == count
    received = [r.json()["data"]["event_uuid"] for r in http_receiver.wait_for(count)]
    assert received == [f"uuid-{i}" for i in range(1, count + 1)]
    assert all(m.status == JobStatus.DONE and m.attempts == 1 for m in messages_of(endpoint))
    assert Attempt.objects.filter(outcome=Outcome.SUCCESS).count() == count


def test_a_slow_endpoint_holds_up_only_its_own_worker(new_endpoint, ingest, http_receiver, workers):
    slow = new_endpoint(name="slow", url=f"{http_receiver.url}/slow")
    fast = new_endpoint(name="fast", event_types=["prize.points_added"], url=f"{http_receiver.url}/fast")
    http_receiver.script([(200, HELD)])  # the first request (the slow endpoint's) is held
    ingest(typed_event(1))
    stuck = workers(slow)
    stuck.go()
    http_receiver.wait_for(1)
    ingest(*[typed_event(i, "prize.points_added") for i in range(2, 7)])
    other = workers(fast)
    other.go()
    assert other.delivered() == 5  # while the slow endpoint's answer is still awaited
    assert stuck.process.poll() is None
    assert [r.path for r in http_receiver.requests] == ["/slow"] + ["/fast"] * 5
    assert messages_of(slow)[0].status == JobStatus.RUNNING
