"""The endpoint and delivery-log pages for each persona: operators configure, reveal, rotate,
test and recover; support sees endpoints and the log, never a secret, changes nothing;
another tenant gets 404 for every page and action."""

import pytest
from django.urls import reverse

from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.webhooks.conftest import messages_of, run, typed_event, verified
from webhooks.models import EVENT_TYPES, Endpoint, EndpointStatus, Message, SecretReveal
from webhooks.services import delivery
from webhooks.services import endpoints as svc

pytestmark = pytest.mark.django_db

ACTIONS = ("pause", "resume", "reveal", "rotate", "test", "recover")


def url(name, *args):
    return reverse(f"admin:webhooks_{name}", args=args)


def test_operator_creates_an_endpoint_with_a_generated_secret(as_operator_a, zones_on, http_receiver):
    response = as_operator_a.post(url("endpoint_add"), {
        "tenant": zones_on.pk, "name": "CRM", "url": f"{http_receiver.url}/hook",
        "event_types": ["receipt.receipt_validated", "message.first_open"]})
    assert response.status_code == 302, response.content
    endpoint = Endpoint.objects.get()
    assert endpoint.event_types == ["receipt.receipt_validated", "message.first_open"]
    assert endpoint.secret.startswith("whsec_")
    page = as_operator_a.get(url("endpoint_change", endpoint.pk)).content.decode()
    assert endpoint.secret not in page and "running-state" in page


def test_the_form_shows_the_service_rules_beside_their_fields(as_operator_a, tenant_a, http_receiver):
    tenant_a.webhook_zone1_enabled = True
    tenant_a.save()
    response = as_operator_a.post(url("endpoint_add"), {
        "tenant": tenant_a.pk, "name": "CRM", "url": http_receiver.url, "event_types": ["message.first_open"]})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "event_types": [svc.EVENT_TYPE_NOT_BOUGHT.format(type="message.first_open", zone=2)]}
    assert not Endpoint.objects.exists()


def test_reveal_shows_the_secret_to_the_operator_and_records_it(as_operator_a, endpoint, operator_a):
    assert as_operator_a.get(url("endpoint_reveal", endpoint.pk)).status_code == 405
    response = as_operator_a.post(url("endpoint_reveal", endpoint.pk))
    assert response.status_code == 200 and endpoint.secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    assert SecretReveal.objects.filter(user=operator_a).count() == 1
    assert AuditLog.objects.filter(action="webhook_secret_reveal").count() == 1
    assert "reveals" in as_operator_a.get(url("endpoint_change", endpoint.pk)).content.decode()


def test_support_sees_endpoints_and_the_log_but_no_secret_and_changes_nothing(as_support_a, endpoint, ingest):
    ingest(typed_event(1))
    message = messages_of(endpoint)[0]
    assert as_support_a.get(url("endpoint_changelist")).status_code == 200
    page = as_support_a.get(url("endpoint_change", endpoint.pk))
    assert page.status_code == 200 and endpoint.secret not in page.content.decode()
    assert 'id="reveal"' not in page.content.decode()
    assert as_support_a.get(url("message_changelist")).status_code == 200
    assert as_support_a.get(url("message_change", message.pk)).status_code == 200
    for action in ACTIONS:
        assert as_support_a.post(url(f"endpoint_{action}", endpoint.pk)).status_code == 403, action
    assert as_support_a.post(url("message_resend", message.pk)).status_code == 403
    edit = {"name": "x", "url": endpoint.url, "event_types": endpoint.event_types}
    assert as_support_a.post(url("endpoint_change", endpoint.pk), edit).status_code == 403
    assert as_support_a.post(url("endpoint_delete", endpoint.pk), {"post": "yes"}).status_code == 403
    assert Endpoint.objects.get().name == "CRM" and not SecretReveal.objects.exists()


def test_another_tenant_gets_404_for_every_page_and_action(as_operator_b, endpoint, ingest):
    ingest(typed_event(1))
    message = messages_of(endpoint)[0]
    for name in ("endpoint_change", "endpoint_delete", "endpoint_history", "message_change"):
        pk = message.pk if name.startswith("message") else endpoint.pk
        assert as_operator_b.get(url(name, pk)).status_code == 404, name
    for action in ACTIONS:
        assert as_operator_b.post(url(f"endpoint_{action}", endpoint.pk)).status_code == 404, action
    assert as_operator_b.post(url("message_resend", message.pk)).status_code == 404
    assert endpoint.secret not in as_operator_b.get(url("endpoint_changelist")).content.decode()
    assert not SecretReveal.objects.exists()


def test_a_csm_sees_the_endpoint_but_does_not_reveal_its_secret(as_csm, endpoint):
    assert as_csm.get(url("endpoint_change", endpoint.pk)).status_code == 200
    assert as_csm.post(url("endpoint_reveal", endpoint.pk)).status_code == 403


def test_pause_and_resume_buttons(as_operator_a, endpoint, ingest, http_receiver):
    assert as_operator_a.post(url("endpoint_pause", endpoint.pk)).status_code == 302
    ingest(typed_event(1), typed_event(2))
    assert Endpoint.objects.get().status == EndpointStatus.PAUSED
    assert as_operator_a.post(url("endpoint_resume", endpoint.pk)).status_code == 302
    run(endpoint)
    assert [r.json()["data"]["event_uuid"] for r in http_receiver.wait_for(2)] == ["uuid-1", "uuid-2"]


def test_rotate_with_overlap_from_the_page(as_operator_a, endpoint, ingest, http_receiver):
    old = endpoint.secret
    assert as_operator_a.post(url("endpoint_rotate", endpoint.pk), {"keep_old": "1"}).status_code == 302
    endpoint.refresh_from_db()
    assert endpoint.secret != old and endpoint.previous_secret == old
    ingest(typed_event(1))
    run(endpoint)
    request = http_receiver.wait_for(1)[0]
    verified(request, old)
    verified(request, endpoint.secret)


def test_send_test_shows_status_latency_response_and_headers(as_operator_a, endpoint, http_receiver):
    page = as_operator_a.get(url("endpoint_test", endpoint.pk))
    assert page.status_code == 200 and "message.first_open" in page.content.decode()
    http_receiver.response_body = b"<b>thanks</b>"
    response = as_operator_a.post(url("endpoint_test", endpoint.pk), {"event_type": "prize.points_added"})
    html = response.content.decode()
    assert response.context["attempt"].http_status == 200
    assert "webhook-signature: v1," in html and "&lt;b&gt;thanks&lt;/b&gt;" in html
    [request] = http_receiver.wait_for(1)
    assert verified(request, endpoint.secret)["type"] == "prize.points_added"


def test_send_test_is_limited_per_tenant(as_operator_a, endpoint, http_receiver):
    from mktops import ratelimit

    for _ in range(ratelimit.CONNECTION_TESTS):
        ok = as_operator_a.post(url("endpoint_test", endpoint.pk), {"event_type": "prize.points_added"})
        assert ok.context["attempt"].http_status == 200
    http_receiver.wait_for(ratelimit.CONNECTION_TESTS)
    refused = as_operator_a.post(url("endpoint_test", endpoint.pk), {"event_type": "prize.points_added"})
    assert refused.context["attempt"] is None
    assert "Too many test sends for this tenant" in refused.context["error"]
    assert AuditLog.objects.filter(action=ratelimit.AUDIT_REFUSED, tenant=endpoint.tenant).count() == 1
    assert Message.objects.filter(endpoint=endpoint, is_test=True).count() == ratelimit.CONNECTION_TESTS


def test_delete_asks_for_confirmation_then_deletes_with_an_audit_row(as_operator_a, endpoint):
    page = as_operator_a.get(url("endpoint_delete", endpoint.pk))
    assert page.status_code == 200 and Endpoint.objects.exists()
    assert as_operator_a.post(url("endpoint_delete", endpoint.pk), {"post": "yes"}).status_code == 302
    assert not Endpoint.objects.exists()
    assert AuditLog.objects.filter(action="webhook_endpoint_delete").count() == 1


def test_resend_one_message_and_recover_failed_since_a_time(as_operator_a, endpoint, ingest, http_receiver):
    ingest(typed_event(1), typed_event(2))
    first, second = messages_of(endpoint)
    Message.objects.update(status=JobStatus.FAILED, next_attempt_at=None)
    assert as_operator_a.post(url("message_resend", first.pk)).status_code == 302
    assert Message.objects.get(pk=first.pk).status == JobStatus.PENDING
    since = first.created_at.strftime("%Y-%m-%d %H:%M")
    assert as_operator_a.post(url("endpoint_recover", endpoint.pk), {"since": since}).status_code == 302
    assert run(endpoint) == 2
    assert {r.headers["webhook-id"] for r in http_receiver.wait_for(2)} == {first.webhook_id, second.webhook_id}


def test_the_log_shows_the_far_sides_answer_escaped(as_operator_a, endpoint, ingest, http_receiver):
    http_receiver.default_status = 500
    http_receiver.response_body = b"<script>alert(1)</script>"
    ingest(typed_event(1))
    run(endpoint)
    html = as_operator_a.get(url("message_change", messages_of(endpoint)[0].pk)).content.decode()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>alert(1)" not in html


def test_a_failing_endpoint_is_warned_on_its_page_and_the_changelist_before_it_is_disabled(as_operator_a, endpoint,
                                                                                           ingest, http_receiver):
    http_receiver.default_status = 500
    ingest(typed_event(1))
    run(endpoint)
    when = delivery.disable_warning(endpoint=Endpoint.objects.get())
    expected = f"disabled at {when:%Y-%m-%d %H:%M} UTC unless a delivery succeeds before"
    assert expected in as_operator_a.get(url("endpoint_changelist")).content.decode()
    assert expected in as_operator_a.get(url("endpoint_change", endpoint.pk)).content.decode()


def test_a_paused_endpoints_page_shows_the_backlog_kept_for_the_resume(as_operator_a, endpoint, ingest):
    assert as_operator_a.post(url("endpoint_pause", endpoint.pk)).status_code == 302
    ingest(*[typed_event(i) for i in range(1, 4)])
    page = as_operator_a.get(url("endpoint_change", endpoint.pk)).content.decode()
    assert "Paused</span> · 3 undelivered" in page and 'id="resume"' in page


def test_the_form_lists_each_event_type_on_its_line_with_its_zone_and_when(as_operator_a, endpoint):
    page = as_operator_a.get(url("endpoint_change", endpoint.pk)).content.decode()
    for code, (zone, when) in EVENT_TYPES.items():
        assert f"<code class=\"webhook-type\">{code}</code> <span class=\"webhook-zone\">zone {zone} · bought</span>" \
            in page.replace("'", '"')
        assert f"when {when}".replace("'", "&#x27;") in page
    assert 'class="vURLField webhook-url"' in page


def test_the_running_state_shows_periods_and_each_endpoints_subscriptions(as_operator_a, new_endpoint, zones_on):
    import datetime

    zones_on.webhook_zone1_purchase_start = datetime.date(2026, 1, 1)
    zones_on.webhook_zone1_purchase_end = datetime.date(2026, 12, 31)
    zones_on.webhook_zone2_addon_end = datetime.date(2027, 3, 31)
    zones_on.save()
    crm = new_endpoint(name="CRM")
    new_endpoint(name="Points", event_types=["prize.points_added", "message.first_open"])
    page = as_operator_a.get(url("endpoint_change", crm.pk)).content.decode()
    state = page[page.index("id='running-state'"):]
    assert "2026-01-01 to 2026-12-31" in state and "2027-03-31" in state
    assert "(2 of 3 endpoints)" in state
    assert "<li>CRM: receipt.receipt_validated</li>" in state
    assert "<li>Points: prize.points_added, message.first_open</li>" in state


def test_the_log_finds_a_message_by_its_whole_webhook_id_or_a_part_only_in_its_tenant(
        as_operator_a, as_operator_b, as_support_a, endpoint, ingest):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ingest(typed_event(1), typed_event(2))
    first, second = messages_of(endpoint)[:2]
    with CaptureQueriesContext(connection) as queries:
        html = as_operator_a.get(url("message_changelist"), {"q": f"  {first.webhook_id} "}).content.decode()
    assert url("message_change", first.pk) in html and url("message_change", second.pk) not in html
    # the whole id is looked up as it is (its unique index), not by a case-folded LIKE
    assert not any("LIKE" in q["sql"] and first.webhook_id.upper() in q["sql"].upper()
                   for q in queries.captured_queries)
    part = as_support_a.get(url("message_changelist"), {"q": second.webhook_id[4:20]}).content.decode()
    assert url("message_change", second.pk) in part and url("message_change", first.pk) not in part
    for term in (first.webhook_id, first.webhook_id[4:20]):
        other = as_operator_b.get(url("message_changelist"), {"q": term}).content.decode()
        assert url("message_change", first.pk) not in other and "0 webhook deliveries" in other
