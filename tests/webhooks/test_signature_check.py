"""The signature check tool, on what the loopback receiver really got."""

import json

import pytest
from django.urls import reverse

from tests.webhooks.conftest import run, typed_event
from webhooks.services import endpoints as svc
from webhooks.services import signature_check as check

pytestmark = pytest.mark.django_db


def _received(endpoint, ingest, http_receiver):
    ingest(typed_event(1))
    run(endpoint)
    request = http_receiver.wait_for(1)[0]
    headers = "\n".join(f"{k}: {v}" for k, v in request.headers.items())
    return headers, request.body.decode(), int(request.headers["webhook-timestamp"])


def test_what_the_receiver_got_verifies_against_the_current_secret(endpoint, ingest, http_receiver):
    headers, body, stamp = _received(endpoint, ingest, http_receiver)
    result = check.signature_check(endpoint=endpoint, headers_text=headers, body=body, now=stamp)
    assert result.ok and result.message == check.OK_CURRENT


def test_during_an_overlap_the_old_signature_is_named_previous(endpoint, operator_a, ingest, http_receiver):
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=True)
    headers, body, stamp = _received(endpoint, ingest, http_receiver)
    lines = headers.splitlines()
    # a receiver that knows only the old secret checks the second signature (current first)
    old_only = [line if not line.startswith("webhook-signature") else "webhook-signature: " + line.split(" ")[2]
                for line in lines]
    result = check.signature_check(endpoint=endpoint, headers_text="\n".join(old_only), body=body, now=stamp)
    assert result.ok and result.message == check.OK_PREVIOUS


def test_a_changed_body_a_wrong_secret_an_old_timestamp_and_missing_headers(endpoint, operator_a, ingest,
                                                                            http_receiver):
    headers, body, stamp = _received(endpoint, ingest, http_receiver)
    reserialised = json.dumps(json.loads(body), indent=2)
    assert check.signature_check(endpoint=endpoint, headers_text=headers, body=reserialised,
                                 now=stamp).message == check.BODY_CHANGED
    assert check.signature_check(endpoint=endpoint, headers_text=headers, body=body,
                                 now=stamp + 3600).reason == "too_old"
    assert check.signature_check(endpoint=endpoint, headers_text="webhook-id: x", body=body).reason == \
        "missing_headers"
    svc.secret_rotate(endpoint=endpoint, by=operator_a, keep_old_for_24h=False)
    assert check.signature_check(endpoint=endpoint, headers_text=headers, body=body,
                                 now=stamp).message == check.NO_MATCH


def test_the_page_is_for_operators(as_operator_a, as_support_a, as_operator_b, endpoint, ingest, http_receiver):
    headers, body, _ = _received(endpoint, ingest, http_receiver)
    page = reverse("admin:webhooks_endpoint_check", args=[endpoint.pk])
    response = as_operator_a.post(page, {"headers": headers, "body": body})
    assert response.context["result"].ok
    assert as_support_a.post(page, {"headers": headers, "body": body}).status_code == 403
    assert as_operator_b.post(page, {"headers": headers, "body": body}).status_code == 404
