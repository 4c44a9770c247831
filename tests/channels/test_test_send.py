"""Send test message: the platform's answer shown and kept, the sent event through ingestion, the limit."""

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from channels import sending
from channels.models import ChannelTestSend
from channels.providers.email import TEST_SUBJECT
from channels.services import lifecycle
from mktops import ratelimit
from mktops.models import AuditLog, Event, SentMessage
from tests.channels.lifecycle_helpers import make_channel
from tests.channels.platform_helpers import bind, sms_channel, viber_channel, whatsapp_channel

SPF = "v=spf1 include:_spf.mailer.example ~all"
DKIM = "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQC1"


@pytest.fixture
def graph(platforms, settings):
    return platforms.configure(settings)


@pytest.fixture
def email_channel(tenant_a, smtp_server, dns_server, settings):
    settings.MKTOPS_DNS_RESOLVER = dns_server.address
    dns_server.add("acme.example", "TXT", SPF)
    dns_server.add("s1._domainkey.acme.example", "TXT", DKIM)
    return bind(tenant_a, "email", smtp_server.credentials(), name="Newsletter")


def test_whatsapp_test_send_records_the_answer_and_the_sent_event(tenant_a, operator_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    row = sending.channel_test_send(channel=channel, to="+4915112345678", text="Hello from mktops", by=operator_a)

    assert row.ok and row.message_id.startswith("wamid.")
    assert row.message_id in row.message
    assert graph.sent[-1]["body"]["to"] == "4915112345678"
    event = Event.objects.get(tenant=tenant_a, event_uuid=row.event_uuid)
    assert event.event_name == "WhatsApp Sent" and event.event_type == "CAMPAIGN_EVENT"
    assert event.event_attributes == {"channel_id": channel.public_id, "message_id": row.message_id,
                                      "test_send": True}
    assert event.mobile_number == "+4915112345678"
    assert ChannelTestSend.objects.get().by == operator_a
    audit = AuditLog.objects.get(action=sending.AUDIT_ACTION)
    assert audit.detail["ok"] is True and audit.detail["message_id"] == row.message_id


def test_email_test_send_is_archived_like_any_email_sent(email_channel, tenant_a, smtp_server):
    row = sending.channel_test_send(channel=email_channel, to="bob@example.com", text="Hello Bob")
    assert row.ok
    (mail,) = smtp_server.messages
    assert mail.message["Message-ID"] == row.message_id
    event = Event.objects.get(tenant=tenant_a, event_uuid=row.event_uuid)
    assert (event.event_name, event.event_code, event.email_id) == ("Email Sent", "MOE_EMAIL_SENT",
                                                                    "bob@example.com")
    content = SentMessage.objects.get(event_id=event.pk).content
    assert content["subject"] == TEST_SUBJECT and content["text"] == "Hello Bob"
    assert content["to"] == "bob@example.com" and content["from"] == smtp_server.username


def test_sms_test_send_carries_the_sms_message(tenant_a, graph):
    channel = sms_channel(tenant_a, graph)
    row = sending.channel_test_send(channel=channel, to="+4915112345678", text="Code 1234")
    event = Event.objects.get(event_uuid=row.event_uuid)
    assert event.event_name == "SMS Sent"
    assert SentMessage.objects.get(event_id=event.pk).content == {"to": "+4915112345678", "sender": "ACME",
                                                                  "body": "Code 1234"}


def test_the_sent_event_reaches_the_ingest_subscribers(tenant_a, graph, django_capture_on_commit_callbacks):
    """The same path as the API: mktops.dispatch tells the features (archive, webhooks) after commit."""
    from mktops import dispatch

    seen = []

    def receiver(sender, tenant, event_ids, message_event_ids, **kwargs):
        seen.append((tenant.pk, list(event_ids), list(message_event_ids)))

    signal = dispatch.events_ingested
    signal.connect(receiver, dispatch_uid="test-send-probe", weak=False)
    channel = sms_channel(tenant_a, graph)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            row = sending.channel_test_send(channel=channel, to="+4915112345678", text="Hi")
    finally:
        signal.disconnect(dispatch_uid="test-send-probe")
    event = Event.objects.get(event_uuid=row.event_uuid)
    assert seen == [(tenant_a.pk, [event.pk], [event.pk])]


def test_a_refusal_is_shown_and_kept_and_records_no_event(tenant_a, graph):
    channel = sms_channel(tenant_a, graph)
    graph.add_sms_account(channel.account_id.split("@")[1], "f" * 32, senders=["OTHER"])  # ACME withdrawn
    row = sending.channel_test_send(channel=channel, to="+4915112345678", text="Hi")
    assert not row.ok and row.reason == "refused" and row.message_id == "" and row.event_uuid == ""
    assert "Invalid From Number" not in row.message
    assert not Event.objects.filter(event_name="SMS Sent").exists()
    assert ChannelTestSend.objects.get().message == row.message


def test_an_unreachable_platform_is_a_failed_send_in_words(tenant_a, graph):
    channel = viber_channel(tenant_a, graph)
    graph.fail("/viber", status=503)
    row = sending.channel_test_send(channel=channel, to="01234567890A=", text="Hi")
    assert not row.ok and row.reason == "server_error" and "503" not in row.message


def test_bad_input_names_the_field_and_sends_nothing(tenant_a, graph):
    channel = whatsapp_channel(tenant_a, graph)
    with pytest.raises(ValidationError) as invalid:
        sending.channel_test_send(channel=channel, to="nobody", text="x" * (sending.TEXT_MAX + 1))
    assert set(invalid.value.message_dict) == {"to", "text"}
    assert invalid.value.message_dict["text"] == [sending.ERR_TEXT_TOO_LONG.format(
        limit=sending.TEXT_MAX, length=sending.TEXT_MAX + 1)]
    with pytest.raises(ValidationError) as invalid:
        sending.channel_test_send(channel=channel, to="+4915112345678", text="   ")
    assert invalid.value.message_dict == {"text": [sending.ERR_TEXT_REQUIRED]}
    assert graph.sent == [] and not ChannelTestSend.objects.exists()


def test_only_a_bound_channel_sends(tenant_a, graph):
    channel = make_channel(tenant_a, name="Unbound")
    with pytest.raises(ValidationError) as invalid:
        sending.channel_test_send(channel=channel, to="+4915112345678", text="Hi")
    assert invalid.value.message_dict == {NON_FIELD_ERRORS: [sending.ERR_NOT_BOUND.format(state="Unbound")]}
    bound = whatsapp_channel(tenant_a, graph, name="Bound")
    lifecycle.channel_unbind(channel=bound)
    bound.refresh_from_db()
    with pytest.raises(ValidationError):
        sending.channel_test_send(channel=bound, to="+4915112345678", text="Hi")


def test_the_limit_per_tenant(tenant_a, tenant_b, graph):
    channel = viber_channel(tenant_a, graph)
    for _ in range(ratelimit.CONNECTION_TESTS):
        assert sending.channel_test_send(channel=channel, to="01234567890A=", text="Hi").ok
    with pytest.raises(ValidationError) as invalid:
        sending.channel_test_send(channel=channel, to="01234567890A=", text="Hi")
    assert "Too many test messages" in invalid.value.message_dict[NON_FIELD_ERRORS][0]
    assert len(graph.sent) == ratelimit.CONNECTION_TESTS
    assert AuditLog.objects.filter(action=ratelimit.AUDIT_REFUSED, tenant=tenant_a).count() == 1


def test_the_archive_keeps_a_copy_of_a_test_email(email_channel, tenant_a, settings, tmp_path):
    """The archive's own task, as the ingest signal enqueues it, makes its row for the test email."""
    from archive import tasks as archive_tasks
    from archive.models import ArchivedMessage, ArchiveSettings
    from mktops import clock

    settings.MKTOPS_LOCAL_ARCHIVE_DIR = tmp_path
    tenant_a.archive_enabled = True
    tenant_a.save()
    # the operator confirmed the archive's destination (the platform's store), as a live tenant has
    ArchiveSettings.objects.update_or_create(tenant=tenant_a, defaults={"locked_at": clock.now()})
    row = sending.channel_test_send(channel=email_channel, to="bob@example.com", text="Hello Bob")
    event = Event.objects.get(event_uuid=row.event_uuid)
    archive_tasks.deliver_events(tenant_a.pk, [event.pk])
    archived = ArchivedMessage.objects.get(event_id=event.pk)
    assert (archived.tenant_id, archived.status) == (tenant_a.pk, "done")
    assert archived.key
