"""An operator creates an endpoint, reveals its secret and sends a test to the loopback
receiver in a real browser."""

import pytest

from mktops.models import AuditLog
from tests.webhooks.conftest import verified
from webhooks.models import Endpoint

pytestmark = pytest.mark.browser



def test_operator_creates_reveals_and_sends_a_test(zones_on, operator_a, page_for, live_server, http_receiver):
    page = page_for(operator_a)
    page.goto("/admin/webhooks/endpoint/add/")
    page.select_option("#id_tenant", str(zones_on.pk))
    page.fill("#id_name", "CRM")
    page.fill("#id_url", f"{http_receiver.url}/hook")
    page.check("input[name=event_types][value='receipt.receipt_validated']")
    page.click("input[name=_continue]")
    page.wait_for_selector("#secret-masked")
    endpoint = Endpoint.objects.get()
    assert endpoint.secret not in page.content()

    page.click("#reveal")
    page.wait_for_selector("#secret")
    assert page.locator("#secret").inner_text() == endpoint.secret
    assert AuditLog.objects.filter(action="webhook_secret_reveal", user=operator_a).count() == 1

    page.goto(f"/admin/webhooks/endpoint/{endpoint.pk}/change/")
    assert "alice-operator-a" in page.locator("#reveals").inner_text()
    page.click("#send-test")
    page.select_option("#test-event-type", "receipt.receipt_validated")
    page.click("#send-test-now")
    page.wait_for_selector("#test-result")
    assert page.locator("#test-status").inner_text() == "200"
    assert "webhook-signature: v1," in page.locator("#test-headers").inner_text()
    [request] = http_receiver.wait_for(1)
    assert verified(request, endpoint.secret)["type"] == "receipt.receipt_validated"
