"""Bind and rebind against the loopback platform servers (tests/fixtures/platforms.py): the job
asks Graph / Viber / Twilio, the channel ends Bound with what the platform says or Bind failed with
the reason in words and the checklist; a platform that cannot be asked makes the job retry, never
fail; one account is bound to one channel on the whole platform; secrets are sealed at rest."""

import json
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from channels import tasks
from channels.models import Channel, ChannelBindJob, ChannelState
from channels.services import binding
from channels.services import lifecycle as svc
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.channels.lifecycle_helpers import make_channel
from tests.fixtures.platforms import WHATSAPP_SCOPES

pytestmark = pytest.mark.django_db

TOKEN = "EAAGm0PX4ZCpsBAKtoken0001"
OTHER_TOKEN = "EAAGm0PX4ZCpsBAKtoken0002"
NUMBER = "106540352242922"
WABA = "102290129340398"


@pytest.fixture
def graph(platforms, settings):
    platforms.configure(settings)
    platforms.add_meta_token(TOKEN, scopes=WHATSAPP_SCOPES)
    platforms.add_whatsapp_number(NUMBER, TOKEN, verified_name="Acme Shop", display_phone_number="+1 555-0100")
    return platforms


def creds(number=NUMBER, token=TOKEN):
    return {"phone_number_id": number, "waba_id": WABA, "access_token": token}


def bind(channel, credentials, by=None, *, capture) -> str:
    """Ask for the bind, then run the job once as the worker would (the task django-q2 executes)."""
    with capture(execute=False) as callbacks:
        job = svc.channel_bind(channel=channel, credentials=credentials, by=by)
    assert len(callbacks) == 1  # the task is enqueued when the request commits
    outcome = tasks.bind_run(job.pk)
    channel.refresh_from_db()
    return outcome


def test_bind_ends_bound_with_what_the_platform_says(graph, tenant_a, operator_a,
                                                       django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a, by=operator_a)
    assert bind(channel, creds(), operator_a, capture=django_capture_on_commit_callbacks) == "bound"
    assert channel.state == ChannelState.BOUND and channel.can_send
    assert channel.account_id == NUMBER
    assert channel.account_details["verified_name"] == "Acme Shop"
    assert channel.account_details["quality_rating"] == "GREEN"
    assert set(WHATSAPP_SCOPES) <= set(channel.granted_scopes)
    states = [(h.from_state, h.to_state) for h in channel.history.order_by("at", "id")]
    assert states == [("", "unbound"), ("unbound", "binding"), ("binding", "bound")]
    binding_row = channel.history.get(to_state="binding")
    assert binding_row.by == operator_a and binding_row.why == "Bind requested."
    assert channel.history.get(to_state="bound").by is None
    assert AuditLog.objects.filter(action="channel.bound").count() == 1


def test_the_credentials_are_sealed_at_rest(graph, tenant_a, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    bind(channel, creds(), capture=django_capture_on_commit_callbacks)
    with connection.cursor() as cursor:
        cursor.execute("SELECT credentials FROM channels_channel WHERE id = %s", [channel.pk])
        [stored] = cursor.fetchone()
    assert TOKEN not in stored and NUMBER not in stored
    assert json.loads(channel.credentials)["access_token"] == TOKEN


def test_an_invalid_token_ends_bind_failed_with_the_reason_and_the_checklist(graph, tenant_a,
                                                                           django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    assert bind(channel, creds(token="EAAGunknownTokenXXXXXXXX"), capture=django_capture_on_commit_callbacks) == \
        "failed"
    assert channel.state == ChannelState.BIND_FAILED and not channel.can_send
    assert channel.failure_reason == "invalid_token"
    assert "access token" in channel.failure_message and "Cannot parse" not in channel.failure_message
    checklist = binding.troubleshooting_checklist(channel=channel)
    assert "business verification" in checklist[0]
    assert "active and in good standing" in checklist[1]
    assert "every permission" in checklist[2]
    assert ChannelBindJob.objects.get().status == JobStatus.FAILED
    row = channel.history.first()
    assert (row.from_state, row.to_state) == ("binding", "bind_failed") and channel.failure_message in row.why


def test_a_missing_permission_is_named(graph, tenant_a, django_capture_on_commit_callbacks):
    graph.add_meta_token(OTHER_TOKEN, scopes=["whatsapp_business_messaging"])
    graph.add_whatsapp_number("106540352242999", OTHER_TOKEN)
    channel = make_channel(tenant_a)
    bind(channel, creds(number="106540352242999", token=OTHER_TOKEN), capture=django_capture_on_commit_callbacks)
    assert channel.state == ChannelState.BIND_FAILED and channel.failure_reason == "missing_permission"
    assert "whatsapp_business_management" in channel.missing_permissions
    assert "missing: whatsapp_business_management" in binding.troubleshooting_checklist(channel=channel)[2]


def test_an_unknown_number_ends_bind_failed(graph, tenant_a, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    bind(channel, creds(number="999999999999"), capture=django_capture_on_commit_callbacks)
    assert (channel.state, channel.failure_reason) == (ChannelState.BIND_FAILED, "not_found")


@pytest.mark.parametrize("fault", [{"status": 503}, {"status": 500}, {"timeout": True}])
def test_a_platform_that_cannot_be_asked_makes_the_job_retry_never_fail(graph, tenant_a, clock, fault,
                                                                        django_capture_on_commit_callbacks):
    graph.fail("/graph", **fault)
    channel = make_channel(tenant_a)
    assert bind(channel, creds(), capture=django_capture_on_commit_callbacks) == "retrying"
    assert channel.state == ChannelState.BINDING
    job = ChannelBindJob.objects.get()
    assert job.status == JobStatus.RETRYING and job.next_attempt_at > clock.now()
    assert job.last_error and "scripted" not in job.last_error
    # not due yet: the sweeper hands nothing out
    assert tasks.sweep() == {"bind_jobs": 0}
    graph.clear_faults()
    clock.advance(binding.RETRY_SCHEDULE[0] + timedelta(seconds=1))
    assert tasks.sweep() == {"bind_jobs": 1}
    assert tasks.bind_run(job.pk) == "bound"
    channel.refresh_from_db()
    assert channel.state == ChannelState.BOUND


def test_a_rate_limit_waits_at_least_what_the_platform_asks(graph, tenant_a, clock,
                                                           django_capture_on_commit_callbacks):
    graph.rate_limit("/graph", retry_after=600)
    channel = make_channel(tenant_a)
    assert bind(channel, creds(), capture=django_capture_on_commit_callbacks) == "retrying"
    job = ChannelBindJob.objects.get()
    assert job.next_attempt_at >= clock.now() + timedelta(seconds=600) - timedelta(seconds=5)
    assert channel.state == ChannelState.BINDING


def test_bad_input_names_the_field_and_sends_nothing(graph, tenant_a):
    channel = make_channel(tenant_a)
    with pytest.raises(ValidationError) as caught:
        svc.channel_bind(channel=channel, credentials={"phone_number_id": "12ab", "waba_id": "",
                                                       "access_token": "x"})
    assert set(caught.value.message_dict) == {"phone_number_id", "waba_id", "access_token"}
    channel.refresh_from_db()
    assert channel.state == ChannelState.UNBOUND and not ChannelBindJob.objects.exists()
    assert not graph.requests_to("/graph")


def test_only_an_unbound_or_failed_channel_is_bound_and_only_a_bound_one_rebound(
        graph, tenant_a, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    with pytest.raises(ValidationError) as caught:
        svc.channel_rebind(channel=channel, credentials=creds())
    assert svc.ERR_REBIND_STATE.format(state="Unbound") in caught.value.messages
    bind(channel, creds(), capture=django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError) as caught:
        svc.channel_bind(channel=channel, credentials=creds())
    assert svc.ERR_BIND_STATE.format(state="Bound") in caught.value.messages


# --- one account, one channel ---------------------------------------------------------------------
def test_an_account_held_in_the_tenant_is_refused_naming_the_channel(graph, tenant_a,
                                                                     django_capture_on_commit_callbacks):
    first = make_channel(tenant_a, name="Orders")
    bind(first, creds(), capture=django_capture_on_commit_callbacks)
    second = make_channel(tenant_a, name="Second")
    with pytest.raises(ValidationError) as caught:
        svc.channel_bind(channel=second, credentials=creds())
    message = svc.ERR_ACCOUNT_IN_TENANT.format(type="WhatsApp", name="Orders", public_id=first.public_id)
    assert caught.value.message_dict == {"phone_number_id": [message]}
    second.refresh_from_db()
    assert second.state == ChannelState.UNBOUND


def test_another_tenants_account_is_only_bound_elsewhere(graph, tenant_a, tenant_b,
                                                         django_capture_on_commit_callbacks):
    theirs = make_channel(tenant_b, name="Secret project name")
    bind(theirs, creds(), capture=django_capture_on_commit_callbacks)
    mine = make_channel(tenant_a)
    with pytest.raises(ValidationError) as caught:
        svc.channel_bind(channel=mine, credentials=creds())
    [message] = caught.value.message_dict["phone_number_id"]
    assert message == svc.ERR_ACCOUNT_ELSEWHERE.format(type="WhatsApp")
    assert "Secret project name" not in message and theirs.public_id not in message


def test_the_account_is_checked_again_when_the_platform_answers(platforms, settings, tenant_a, tenant_b,
                                                                django_capture_on_commit_callbacks):
    """Viber's bot id is known only from the platform: two channels with the same bot's token."""
    platforms.configure(settings)
    bot_token = "445da6az1s345z78-dazcczb2542zv51a-e0vc5fva17480im9"
    platforms.add_viber_bot(bot_token, bot_id="pa:1234567890")
    theirs = make_channel(tenant_b, channel_type="viber")
    bind(theirs, {"auth_token": bot_token}, capture=django_capture_on_commit_callbacks)
    assert theirs.state == ChannelState.BOUND
    mine = make_channel(tenant_a, channel_type="viber")
    bind(mine, {"auth_token": bot_token}, capture=django_capture_on_commit_callbacks)
    assert mine.state == ChannelState.BIND_FAILED and mine.failure_reason == binding.REASON_ACCOUNT_TAKEN
    assert mine.failure_message == svc.ERR_ACCOUNT_ELSEWHERE.format(type="Viber")


def test_the_database_holds_one_channel_per_account(graph, tenant_a, tenant_b):
    from django.db import IntegrityError, transaction

    a, b = make_channel(tenant_a), make_channel(tenant_b)
    Channel.objects.filter(pk=a.pk).update(state="bound", account_id=NUMBER)
    with pytest.raises(IntegrityError), transaction.atomic():
        Channel.objects.filter(pk=b.pk).update(state="binding", account_id=NUMBER)
    # another type may use the same id, and an unbound channel holds nothing
    Channel.objects.filter(pk=b.pk).update(channel_type="messenger", state="bound", account_id=NUMBER)


# --- rebind ---------------------------------------------------------------------------------------
def test_rebind_moves_to_another_account_and_keeps_the_old_binding_in_the_history(
        graph, tenant_a, operator_a, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    bind(channel, creds(), capture=django_capture_on_commit_callbacks)
    graph.add_whatsapp_number("106540352243000", TOKEN, verified_name="Acme Outlet")
    with django_capture_on_commit_callbacks(execute=False):
        job = svc.channel_rebind(channel=channel, credentials=creds(number="106540352243000"), by=operator_a)
    channel.refresh_from_db()
    assert channel.state == ChannelState.BINDING
    assert tasks.bind_run(job.pk) == "bound"
    channel.refresh_from_db()
    assert channel.account_id == "106540352243000" and channel.account_details["verified_name"] == "Acme Outlet"
    rebind_row = channel.history.get(to_state="binding", from_state="bound")
    assert rebind_row.by == operator_a and rebind_row.account_id == NUMBER
    assert rebind_row.account_details["verified_name"] == "Acme Shop"
    # the old number is free for another channel now
    other = make_channel(tenant_a, name="Other")
    bind(other, creds(), capture=django_capture_on_commit_callbacks)
    assert other.state == ChannelState.BOUND


def test_an_unbind_while_the_job_runs_wins(graph, tenant_a, csm, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        job = svc.channel_bind(channel=channel, credentials=creds())
    svc.channel_unbind(channel=channel, by=csm)
    assert tasks.bind_run(job.pk) == "not claimed"  # cancelled: no longer due
    channel.refresh_from_db()
    assert channel.state == ChannelState.UNBOUND and channel.account_id == ""


def test_a_bind_waiting_for_an_unreachable_platform_can_be_replaced(graph, tenant_a, operator_a,
                                                                    django_capture_on_commit_callbacks):
    """A tenant-given host that never answers (an SMTP host mistyped) must not leave the channel
    Binding for ever: while its job waits to retry, the operator binds again."""
    graph.fail("/graph", status=503)
    channel = make_channel(tenant_a)
    assert bind(channel, creds(), capture=django_capture_on_commit_callbacks) == "retrying"
    first = ChannelBindJob.objects.get()
    graph.clear_faults()
    assert bind(channel, creds(), operator_a, capture=django_capture_on_commit_callbacks) == "bound"
    first.refresh_from_db()
    assert first.status == JobStatus.FAILED and first.last_error == "Replaced by a new bind request."
    assert channel.history.filter(from_state="binding", to_state="binding", by=operator_a).count() == 1


def test_a_bind_being_asked_now_cannot_be_replaced(graph, tenant_a, django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        svc.channel_bind(channel=channel, credentials=creds())
    with pytest.raises(ValidationError) as caught:
        svc.channel_bind(channel=channel, credentials=creds())
    assert svc.ERR_BIND_STATE.format(state="Binding") in caught.value.messages


def test_a_fault_of_ours_keeps_the_channel_binding_and_retries(graph, tenant_a, caplog,
                                                               django_capture_on_commit_callbacks):
    channel = make_channel(tenant_a)
    with django_capture_on_commit_callbacks(execute=False):
        job = svc.channel_bind(channel=channel, credentials=creds())
    Channel.objects.filter(pk=channel.pk).update(credentials="not JSON")  # a row damaged by hand
    assert tasks.bind_run(job.pk) == "retrying"
    job.refresh_from_db()
    channel.refresh_from_db()
    assert channel.state == ChannelState.BINDING and job.status == JobStatus.RETRYING
    assert job.last_error == binding.ERR_UNEXPECTED
    assert "retrying" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_two_tenants_binding_one_account_at_the_same_moment_get_one_binding(graph, tenant_a, tenant_b):
    import threading

    channels = [make_channel(tenant_a), make_channel(tenant_b)]
    barrier = threading.Barrier(2)
    outcomes = []

    def bind_now(channel):
        try:
            barrier.wait()
            svc.channel_bind(channel=channel, credentials=creds())
            outcomes.append("binding")
        except ValidationError as exc:
            outcomes.append(exc.message_dict["phone_number_id"][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=bind_now, args=(c,)) for c in channels]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["binding", svc.ERR_ACCOUNT_ELSEWHERE.format(type="WhatsApp")])
    assert Channel.objects.filter(state=ChannelState.BINDING, account_id=NUMBER).count() == 1
