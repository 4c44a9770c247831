"""The retention job deletes events older than each tenant's retention, in batches."""

from datetime import timedelta

from django.utils import timezone

from mktops import schedules
from mktops.ingest import events_ingest
from mktops.models import Contact, Event, SentMessage
from mktops.tasks import purge_expired_events, purge_expired_events_for
from tests.conftest import email_sent_event, make_event

DAY = 86_400


def _ingest_ages(tenant, ages_in_days, now, prefix):
    events_ingest(tenant=tenant, items=[
        email_sent_event(i, uid=f"{prefix}-u", event_uuid=f"{prefix}-{age}",
                         event_time=int(now.timestamp()) - age * DAY + 60)
        for i, age in enumerate(ages_in_days)])


def _ages(tenant):
    return sorted(int(uuid.split("-")[-1]) for uuid in Event.objects.filter(tenant=tenant)
                  .values_list("event_uuid", flat=True))


def test_each_tenant_keeps_its_own_retention(tenant_a, tenant_b):
    now = timezone.now()
    tenant_a.event_retention_days = 30
    tenant_a.save()
    tenant_b.event_retention_days = 7
    tenant_b.save()
    _ingest_ages(tenant_a, [1, 6, 8, 29, 31, 90], now, "a")
    _ingest_ages(tenant_b, [1, 6, 8, 29, 31, 90], now, "b")

    deleted = purge_expired_events(now=now)

    assert deleted == 2 + 4
    assert _ages(tenant_a) == [1, 6, 8, 29]
    assert _ages(tenant_b) == [1, 6]
    # the message bodies go with their events; the contacts stay
    assert SentMessage.objects.count() == Event.objects.count()
    assert Contact.objects.filter(uid__in=["a-u", "b-u"]).count() == 2


def test_deletion_goes_in_batches_oldest_first(tenant_a):
    now = timezone.now()
    _ingest_ages(tenant_a, [40, 50, 60, 70, 80, 5], now, "a")
    assert purge_expired_events_for(tenant_a, now=now, batch=2) == 2
    assert _ages(tenant_a) == [5, 40, 50, 60]
    assert purge_expired_events_for(tenant_a, now=now, batch=2) == 2
    assert purge_expired_events_for(tenant_a, now=now, batch=2) == 1
    assert purge_expired_events_for(tenant_a, now=now, batch=2) == 0
    assert _ages(tenant_a) == [5]


def test_the_job_loops_over_batches_until_done(tenant_a):
    now = timezone.now()
    _ingest_ages(tenant_a, list(range(31, 45)), now, "a")
    assert purge_expired_events(now=now, batch=3) == 14
    assert _ages(tenant_a) == []


def test_the_job_follows_the_clock(tenant_a, clock):
    events_ingest(tenant=tenant_a, items=[make_event(1, event_time=int(timezone.now().timestamp()))])
    assert purge_expired_events() == 0
    clock.advance(timedelta(days=tenant_a.event_retention_days, hours=1))
    assert purge_expired_events() == 1


def test_the_job_is_scheduled():
    jobs = {job.name: job for job in schedules.registered()}
    assert jobs["mktops.purge_expired_events"].func == "mktops.tasks.purge_expired_events"
