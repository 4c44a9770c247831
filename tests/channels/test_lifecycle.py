"""Create, edit, unbind and delete through the services: limits named in the messages, the
history row of every state change, the audit rows, and the delete rules on every path."""

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from channels.models import Channel, ChannelBindJob, ChannelHistory, ChannelState
from channels.services import lifecycle as svc
from mktops.jobs import JobStatus
from mktops.models import AuditLog
from tests.channels.lifecycle_helpers import make_channel, put_in_state

pytestmark = pytest.mark.django_db


def test_a_new_channel_is_unbound_cannot_send_and_has_its_first_history_row(tenant_a, operator_a):
    channel = make_channel(tenant_a, by=operator_a, remarks="Orders")
    assert channel.state == ChannelState.UNBOUND and not channel.can_send
    assert channel.public_id.startswith("ch_") and len(channel.public_id) > 10
    [row] = channel.history.all()
    assert (row.from_state, row.to_state, row.by, row.why) == ("", "unbound", operator_a, "Created.")
    assert AuditLog.objects.filter(action="channel.create", tenant=tenant_a, user=operator_a).count() == 1


def test_public_ids_are_unique(tenant_a):
    ids = {make_channel(tenant_a, name=f"c{i}").public_id for i in range(5)}
    assert len(ids) == 5


def test_name_and_remarks_limits_are_named_in_the_messages(tenant_a):
    with pytest.raises(ValidationError) as caught:
        svc.channel_create(tenant=tenant_a, channel_type="sms", name="n" * 51, remarks="r" * 151,
                           prerequisite_confirmed=True)
    assert caught.value.message_dict == {
        "name": [svc.ERR_NAME_TOO_LONG.format(limit=50, length=51)],
        "remarks": [svc.ERR_REMARKS_TOO_LONG.format(limit=150, length=151)]}
    assert "50" in svc.ERR_NAME_TOO_LONG.format(limit=50, length=51)
    svc.channel_create(tenant=tenant_a, channel_type="sms", name="n" * 50, remarks="r" * 150,
                       prerequisite_confirmed=True)
    assert not Channel.objects.filter(name="n" * 51).exists()
    # surrounding spaces are not kept, so they do not count
    assert svc.channel_create(tenant=tenant_a, channel_type="sms", name=" " + "m" * 50 + " ",
                              prerequisite_confirmed=True).name == "m" * 50


def test_an_unknown_type_and_an_unconfirmed_prerequisite_are_refused(tenant_a):
    with pytest.raises(ValidationError) as caught:
        svc.channel_create(tenant=tenant_a, channel_type="telegram", name="x")
    assert caught.value.message_dict == {"channel_type": [svc.ERR_TYPE]}
    with pytest.raises(ValidationError) as caught:
        svc.channel_create(tenant=tenant_a, channel_type="whatsapp", name="x")
    assert "business verification" in caught.value.message_dict["prerequisite_confirmed"][0]
    # Viber has no prerequisite: nothing to confirm
    assert svc.channel_create(tenant=tenant_a, channel_type="viber", name="x").state == ChannelState.UNBOUND


def test_edit_changes_name_and_remarks_with_an_audit_row_and_keeps_the_limits(tenant_a, operator_a):
    channel = make_channel(tenant_a)
    svc.channel_edit(channel=channel, name="Renamed", remarks="New remarks", by=operator_a)
    channel.refresh_from_db()
    assert (channel.name, channel.remarks) == ("Renamed", "New remarks")
    assert AuditLog.objects.get(action="channel.edit").detail["before"]["name"] == "Support line"
    with pytest.raises(ValidationError) as caught:
        svc.channel_edit(channel=channel, name="", remarks="", by=operator_a)
    assert caught.value.message_dict == {"name": [svc.ERR_NAME_REQUIRED]}


def test_unbind_drops_the_binding_keeps_it_in_the_history_and_cancels_a_waiting_bind(tenant_a, csm):
    channel = put_in_state(make_channel(tenant_a), ChannelState.BOUND, account_id="1234567890")
    job = ChannelBindJob.objects.create(tenant=tenant_a, channel=channel, generation=channel.bind_generation,
                                        status=JobStatus.RETRYING)
    svc.channel_unbind(channel=channel, by=csm, reason="Customer left")
    channel.refresh_from_db()
    assert (channel.state, channel.account_id, channel.credentials) == ("unbound", "", "")
    row = channel.history.first()
    assert (row.from_state, row.to_state, row.by, row.account_id) == ("bound", "unbound", csm, "1234567890")
    assert row.why == "Unbound by a CSM: Customer left"
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED
    assert AuditLog.objects.filter(action="channel.unbind", user=csm).count() == 1
    with pytest.raises(ValidationError) as caught:
        svc.channel_unbind(channel=channel, by=csm)
    assert caught.value.message_dict == {NON_FIELD_ERRORS: [svc.ERR_UNBIND_STATE]}


def test_delete_needs_the_typed_name_and_is_audited(tenant_a, operator_a):
    channel = make_channel(tenant_a)
    with pytest.raises(ValidationError) as caught:
        svc.channel_delete(channel=channel, confirm_name="support line", by=operator_a)
    assert caught.value.message_dict == {"confirm_name": [svc.ERR_DELETE_CONFIRM.format(name="Support line")]}
    svc.channel_delete(channel=channel, confirm_name="Support line", by=operator_a)
    assert not Channel.objects.exists() and not ChannelHistory.objects.exists()
    audit = AuditLog.objects.get(action="channel.delete")
    assert audit.user == operator_a and audit.detail["public_id"] == channel.public_id
    assert [(h["from"], h["to"], h["why"]) for h in audit.detail["history"]] == [("", "unbound", "Created.")]


@pytest.mark.parametrize("state", [ChannelState.BOUND, ChannelState.BINDING])
def test_a_bound_or_binding_channel_cannot_be_deleted_on_any_path(tenant_a, operator_a, state):
    channel = put_in_state(make_channel(tenant_a), state)
    with pytest.raises(ValidationError) as caught:
        svc.channel_delete(channel=channel, confirm_name="Support line", by=operator_a)
    [message] = caught.value.message_dict[NON_FIELD_ERRORS]
    assert message == svc.ERR_DELETE_STATE.format(state=channel.get_state_display())
    assert "unbound first, by a CSM" in message
    # the model itself refuses too: the admin's delete, a bulk delete, the shell
    with pytest.raises(ValidationError):
        channel.delete()
    assert Channel.objects.filter(pk=channel.pk).exists()


def test_a_bind_failed_channel_holds_no_account_and_can_be_deleted(tenant_a, operator_a):
    channel = put_in_state(make_channel(tenant_a), ChannelState.BIND_FAILED)
    svc.channel_delete(channel=channel, confirm_name="Support line", by=operator_a)
    assert not Channel.objects.exists()


def test_deleting_the_tenant_takes_its_channels_whatever_their_state(tenant_a):
    put_in_state(make_channel(tenant_a), ChannelState.BOUND)
    tenant_a.delete()
    assert not Channel.objects.exists()
