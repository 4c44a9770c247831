"""Bad input on every channel page gets an answer naming the field and the rule, never a 500,
and no secret comes back in a page, a log line, an audit row or a history row."""

import logging

import pytest
from django.urls import reverse

from channels import tasks
from channels.models import ChannelBindJob, ChannelHistory
from channels.services import lifecycle as svc
from mktops.models import AuditLog
from tests.channels.lifecycle_helpers import make_channel, put_in_state
from tests.channels.test_bind import NUMBER, WABA

pytestmark = pytest.mark.django_db

SECRET = "EAAGsecretTokenThatMustNeverShow9876"


def url(name, *args):
    return reverse(f"admin:channels_channel_{name}", args=args)


@pytest.fixture
def channel(tenant_a):
    return make_channel(tenant_a)


@pytest.mark.parametrize("data", [
    {"channel_type": "whatsapp", "name": "a\x00b", "prerequisite_confirmed": "on"},
    {"channel_type": "whatsapp", "name": "ok", "remarks": "x" * 100_000, "prerequisite_confirmed": "on"},
    {"channel_type": "whatsapp\x00", "name": "ok"},
    {"tenant": "not-a-number", "channel_type": "viber", "name": "ok"},
    {},
])
def test_create_never_answers_500(as_operator_a, tenant_a, data):
    response = as_operator_a.post(url("add"), {"tenant": tenant_a.pk, **data})
    assert response.status_code == 200 and response.context["form"].errors


def test_a_nul_in_the_name_is_refused_by_the_service_naming_the_field(tenant_a):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as caught:
        svc.channel_create(tenant=tenant_a, channel_type="sms", name="a\x00b", prerequisite_confirmed=True)
    assert caught.value.message_dict == {"name": [svc.ERR_NUL.format(field="channel name")]}


def test_unbind_and_delete_never_answer_500(as_csm, as_operator_a, channel):
    put_in_state(channel, "bound")
    response = as_csm.post(url("unbind", channel.pk), {"reason": "a\x00b"})
    assert response.status_code == 200 and response.context["error"] == svc.ERR_NUL.format(field="reason")
    response = as_csm.post(url("unbind", channel.pk), {"reason": "r" * 501})
    assert response.status_code == 200 and "at most 500 characters" in response.context["error"]
    assert as_csm.post(url("unbind", channel.pk), {"reason": "fine"}).status_code == 302
    response = as_operator_a.post(url("delete", channel.pk), {"confirm_name": "a\x00" * 1000})
    assert response.status_code == 200 and response.context["error"]


def test_a_bad_object_id_is_a_404_not_a_500(as_operator_a):
    for page in ("change", "bind", "unbind", "delete"):
        assert as_operator_a.get(url(page, "not-an-id")).status_code in (302, 404)
        assert as_operator_a.get(url(page, 10**12)).status_code in (302, 404)


def test_bind_with_garbage_never_answers_500(as_operator_a, channel, platforms, settings):
    platforms.configure(settings)
    for data in ({"phone_number_id": "1" * 10_000}, {"phone_number_id": "12\x0034", "access_token": "\x00"},
                 {"waba_id": ["1", "2"]}, {}):
        response = as_operator_a.post(url("bind", channel.pk), data)
        assert response.status_code == 200 and response.context["form"].errors


def test_the_token_is_in_no_page_log_audit_or_history_row(as_operator_a, channel, platforms, settings, caplog,
                                                          django_capture_on_commit_callbacks):
    platforms.configure(settings)
    caplog.set_level(logging.DEBUG)
    data = {"phone_number_id": NUMBER, "waba_id": WABA, "access_token": SECRET}
    with django_capture_on_commit_callbacks(execute=False):
        response = as_operator_a.post(url("bind", channel.pk), data)
    assert response.status_code == 302
    tasks.bind_run(ChannelBindJob.objects.get().pk)  # Graph does not know the token: Bind failed
    page = as_operator_a.get(url("change", channel.pk)).content.decode()
    assert "Bind failed" in page and SECRET not in page
    assert SECRET not in caplog.text
    assert not any(SECRET in str(a.detail) for a in AuditLog.objects.all())
    assert not any(SECRET in h.why for h in ChannelHistory.objects.all())
    assert SECRET not in ChannelBindJob.objects.get().last_error
