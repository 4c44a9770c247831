"""Webhook test helpers: a tenant with both zones bought, endpoints on the real loopback
receiver, ingestion through the real API, the delivery task run directly (the function
django-q2 executes), and a Standard Webhooks verifier independent of our signing code."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection
from standardwebhooks import Webhook

from tests.conftest import make_event
from webhooks import tasks
from webhooks.models import Endpoint, Message
from webhooks.services import endpoints


@pytest.fixture
def zones_on(tenant_a):
    tenant_a.webhook_zone1_enabled = True
    tenant_a.webhook_zone2_enabled = True
    tenant_a.save()
    return tenant_a


@pytest.fixture
def new_endpoint(zones_on, operator_a, http_receiver):
    def make(name="CRM", event_types=("receipt.receipt_validated",), url=None) -> Endpoint:
        return endpoints.endpoint_create(tenant=zones_on, name=name, url=url or f"{http_receiver.url}/hook",
                                         event_types=list(event_types), by=operator_a)
    return make


@pytest.fixture
def endpoint(new_endpoint):
    return new_endpoint()


@pytest.fixture
def ingest(api, django_capture_on_commit_callbacks):
    """POST events through the ingestion API with the on-commit dispatch executed (the receiver
    records the rows; the enqueued tasks are left to the test: `run`)."""
    def post(*events):
        with django_capture_on_commit_callbacks(execute=True):
            response = api("/events", {"events": list(events)})
        assert response.status_code == 200, response.content
        return response.json()
    return post


def typed_event(i: int, event_type: str = "receipt.receipt_validated", **overrides) -> dict:
    fields = {"event_code": event_type, "event_name": event_type, "event_attributes": {"amount": 100 + i}}
    return make_event(i, **{**fields, **overrides})


def run(endpoint: Endpoint) -> int:
    """The delivery task for one endpoint, without waiting for short retries."""
    return tasks.deliver_endpoint(endpoint.pk, wait_seconds=0)


def verified(request, *secrets: str) -> dict:
    """The body of a received request, verified with the standardwebhooks library under any of
    `secrets` (it raises when none matches)."""
    errors = []
    for secret in secrets:
        try:
            return Webhook(secret).verify(request.body, request.headers)
        except Exception as exc:  # the library's WebhookVerificationError
            errors.append(exc)
    raise AssertionError(f"no secret verifies the delivery: {errors}")


def messages_of(endpoint: Endpoint):
    return list(Message.objects.filter(endpoint=endpoint).order_by("pk"))


def body_of(message: Message) -> dict:
    return json.loads(message.body)


# --- real worker processes --------------------------------------------------------------
ROOT = Path(__file__).resolve().parent.parent.parent

# what a django-q2 worker does for the task, in a process of its own: beat (when asked, as every
# worker of the cluster does), then run the delivery task; with `until_done` again and again
# until the endpoint has nothing left to deliver (a worker that keeps getting the task)
WORKER = """
import sys, time
import django
django.setup()
from mktops.jobs import ACTIVE, heartbeat_start
from webhooks import tasks
from webhooks.models import Message
endpoint_id, batch, beat, until_done = (int(a) for a in sys.argv[1:5])
if beat:
    heartbeat_start()
print("ready", flush=True)
sys.stdin.readline()  # go
delivered = tasks.deliver_endpoint(endpoint_id, 0, batch or None)
while until_done and Message.objects.filter(endpoint_id=endpoint_id, status__in=ACTIVE).exists():
    time.sleep(0.01)
    delivered += tasks.deliver_endpoint(endpoint_id, 0, batch or None)
print("delivered", delivered, flush=True)
"""


def database_url() -> str:
    """The test database pytest-django made, for a process of its own (transactional tests only:
    the process sees only what is committed)."""
    d = connection.settings_dict
    if d["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{d['NAME']}"
    auth = d["USER"] + (f":{d['PASSWORD']}" if d["PASSWORD"] else "")
    return f"postgres://{auth}@{d['HOST'] or '127.0.0.1'}:{d['PORT'] or 5432}/{d['NAME']}"


class Worker:
    """A worker process running `webhooks.tasks.deliver_endpoint` for one endpoint: `go()` starts
    the work (all workers of a test start together), `kill()` is SIGKILL, `delivered()` waits."""

    def __init__(self, endpoint: Endpoint, *, batch: int = 0, beat: bool = False, until_done: bool = False):
        env = {**os.environ, "DATABASE_URL": database_url(), "MKTOPS_WORKER_HEARTBEAT_SECONDS": "1"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", WORKER, str(endpoint.pk), str(batch), str(int(beat)), str(int(until_done))],
            cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout.readline().strip() == "ready"

    def go(self) -> None:
        self.process.stdin.write("\n")
        self.process.stdin.flush()

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def delivered(self, timeout: float = 120) -> int:
        out, _ = self.process.communicate(timeout=timeout)
        assert self.process.returncode == 0, out
        return int(out.split()[-1])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.kill()


@pytest.fixture
def workers():
    """Start worker processes: workers(endpoint, batch=…); each is killed at the end if still running."""
    started: list[Worker] = []

    def start(endpoint: Endpoint, **kwargs) -> Worker:
        started.append(Worker(endpoint, **kwargs))
        return started[-1]

    yield start
    for worker in started:
        worker.stop()
