"""The configured django-q2 broker round-trips a task: the database broker on
SQLite, Redis when REDIS_URL is set (as .ci/run does for PostgreSQL)."""

import uuid

import pytest
from django.conf import settings
from django_q.brokers import get_broker
from django_q.signing import SignedPackage
from django_q.tasks import async_task

from mktops import jobs


@pytest.mark.django_db(transaction=True)
def test_broker_round_trip():
    broker = get_broker(list_key=f"mktops-test-{uuid.uuid4().hex[:8]}")
    expected = "Redis" if settings.REDIS_URL else "ORM"
    assert type(broker).__name__ == expected
    try:
        task_id = async_task("mktops.tasks.purge_expired_events", broker=broker)
        # the ORM broker hides a task for `retry` seconds after it is handed out;
        # dequeue until ours appears
        package = next(p for _, p in broker.dequeue() or [])
        task = SignedPackage.loads(package)
        assert task["id"] == task_id
        assert task["func"] == "mktops.tasks.purge_expired_events"
    finally:
        broker.delete_queue()


def test_enqueue_survives_an_unreachable_broker(caplog):
    """A broker that cannot be reached loses nothing: enqueue logs and returns, and the
    job row stays due for the sweeper (nothing is marked as handed out)."""
    import redis
    from django_q.brokers.redis_broker import Redis

    dead = Redis(list_key="mktops-dead")
    dead.connection = redis.Redis.from_url("redis://127.0.0.1:9/0", socket_connect_timeout=1)
    jobs.enqueue("mktops.tasks.purge_expired_events", broker=dead)
    assert "the sweeper will pick it up" in caplog.text
