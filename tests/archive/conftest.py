"""Archive test helpers: a tenant with the archive on, ingest through the real API, run the
task functions directly (the same functions django-q2 executes)."""

import pytest

from archive import tasks
from archive.models import ArchivedMessage, ArchiveSettings
from archive.services import intake
from mktops.models import Event
from tests.conftest import email_sent_event, make_event


@pytest.fixture
def archive_on(tenant_a):
    tenant_a.archive_enabled = True
    tenant_a.save()
    return tenant_a


@pytest.fixture
def ingest(api, django_capture_on_commit_callbacks):
    """POST events through the ingestion API with the on-commit dispatch executed, then make the
    archive rows as the enqueued task's first step does (test_pipeline runs that task itself
    from the broker); writing them is left to each test (`run_all`)."""

    def post(*events, confirm: bool = True):
        with django_capture_on_commit_callbacks(execute=True):
            response = api("/events", {"events": list(events)})
        assert response.status_code == 200, response.content
        intake.archived_messages_backfill()
        if confirm:  # the destination as configured now, confirmed (see confirm_destinations)
            confirm_destinations()
        return response.json()

    return post


def sms_sent_event(i: int = 0, **overrides) -> dict:
    event = make_event(i, event_name="SMS Sent", event_code="MOE_SMS_SENT", event_type="CAMPAIGN_EVENT",
                       mobile_number="+15550000" + str(100 + i), event_attributes={"campaign_id": "sms-cmp"},
                       message={"to": "+15550000" + str(100 + i), "sender": "ACME", "body": f"Your code is {i}"})
    event.update(overrides)
    return event


def push_sent_event(i: int = 0, platform: str = "android", **overrides) -> dict:
    names = {"android": "Notification Received Android", "ios": "Notification Sent iOS",
             "web": "Notification Received Web"}
    event = make_event(i, event_name=names[platform], event_code="PUSH", event_type="CAMPAIGN_EVENT",
                       push_id=f"token-{i}", event_attributes={"campaign_id": "push-cmp"},
                       message={"platform": platform, "token": f"token-{i}", "title": "Sale",
                                "body": f"Push {i}", "data": {"deep_link": "acme://sale"}})
    event.update(overrides)
    return event


def run_all(*, confirm: bool = True) -> None:
    """What the cluster would do: make the rows of the ingested sent events, deliver every due row."""
    intake.archived_messages_backfill()
    deliver_pending(confirm=confirm)


def confirm_destinations() -> None:
    """The operator's confirmation of the destination as it is configured now, for every tenant
    with rows (messages wait until a destination is confirmed, issue 14 item 2): the tests that
    are not about the confirmation start from a confirmed destination, as a live tenant does."""
    from mktops import clock
    from mktops.models import Tenant

    tenants = {*ArchivedMessage.objects.values_list("tenant_id", flat=True),
               *Tenant.objects.filter(archive_enabled=True).values_list("pk", flat=True)}
    for tenant_id in tenants:
        cfg, _ = ArchiveSettings.objects.get_or_create(tenant_id=tenant_id)
        ArchiveSettings.objects.filter(pk=cfg.pk, locked_at__isnull=True).update(locked_at=clock.now())


def deliver_pending(*, confirm: bool = True) -> None:
    """Deliver the rows that exist, making none (a sent event without a row stays a gap)."""
    if confirm:
        confirm_destinations()
    tasks.deliver(list(ArchivedMessage.objects.filter(status="pending").values_list("pk", flat=True)))


def message_for(event_uuid: str) -> ArchivedMessage:
    return ArchivedMessage.objects.get(event_uuid=event_uuid)


def settings_of(tenant) -> ArchiveSettings:
    return ArchiveSettings.objects.get_or_create(tenant=tenant)[0]


__all__ = ["email_sent_event", "make_event", "sms_sent_event", "push_sent_event", "run_all", "deliver_pending",
           "confirm_destinations", "message_for", "settings_of", "Event"]
