"""Webhook test helpers: a tenant with both zones bought, endpoints on the real loopback
receiver, ingestion through the real API, the delivery task run directly (the function
django-q2 executes), and a Standard Webhooks verifier independent of our signing code."""

import json

import pytest
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
