"""Issue 12, item 19: ingestion and services read mktops.clock; fastwrite's columns follow the
models (EVENT_COLUMNS ↔ Event._meta; insert_select fills every column a model adds)."""

from datetime import timedelta

import pytest
from django.db import connection, models
from django.utils import timezone

from mktops import fastwrite
from mktops.jobs import Job, JobStatus
from mktops.models import Contact, Device, Event
from mktops.services import api_key_revoke
from tests.conftest import make_event

# the columns of Event that fastwrite deliberately does not write, and why
NOT_WRITTEN = {
    "id": "drawn by the database (PostgreSQL: from the key's sequence, written by the COPY itself)",
}


def test_event_columns_are_the_models_columns():
    columns = {f.attname for f in Event._meta.concrete_fields}
    assert set(fastwrite.EVENT_COLUMNS) | set(NOT_WRITTEN) == columns
    assert not set(fastwrite.EVENT_COLUMNS) & set(NOT_WRITTEN)
    assert len(set(fastwrite.EVENT_COLUMNS)) == len(fastwrite.EVENT_COLUMNS)


@pytest.mark.django_db
def test_ingestion_reads_the_mktops_clock(api, clock):
    clock.advance(timedelta(days=30))
    response = api("/events", {"events": [make_event(1, push_id="token-1")]})
    assert response.status_code == 200, response.content
    later = timezone.now() + timedelta(days=29)
    assert Event.objects.get().received_at > later
    assert Contact.objects.get().created_at > later
    if Device.objects.exists():
        assert Device.objects.get().last_seen_at > later


@pytest.mark.django_db
def test_services_read_the_mktops_clock(api_key_a, clock):
    from mktops.models import ApiKey

    clock.advance(timedelta(days=3))
    key = ApiKey.objects.get()
    api_key_revoke(key=key)
    assert key.revoked_at > timezone.now() + timedelta(days=2)


class ProbeJob(Job):
    """A job model with a field the caller of insert_select never names (like a Job field
    added later, e.g. a lease owner): it must get its default."""

    payload = models.CharField(max_length=32)
    added_later = models.CharField(max_length=32, default="the default")
    counted = models.PositiveIntegerField(default=7)
    tags = models.JSONField(default=list)

    class Meta:
        app_label = "mktops"
        managed = False
        db_table = "test_fastwrite_probe_job"


@pytest.fixture
def probe_table(transactional_db):
    with connection.schema_editor() as editor:
        editor.create_model(ProbeJob)
    yield ProbeJob
    with connection.schema_editor() as editor:
        editor.delete_model(ProbeJob)


def test_insert_select_fills_every_column_the_caller_does_not_name(probe_table, clock):
    now = clock.now()
    rows = fastwrite.insert_select(model=ProbeJob, select={"payload": ("s.payload", [])},
                                   source="SELECT %s AS payload", source_params=["hello"], now=now,
                                   returning="payload")
    assert rows == [("hello",)]
    row = ProbeJob.objects.get()
    assert (row.payload, row.added_later, row.counted, row.tags) == ("hello", "the default", 7, [])
    # the Job columns, taken from the model: nothing hand-written
    assert (row.status, row.attempts, row.last_error, row.lease_until) == (JobStatus.PENDING, 0, "", None)


def test_a_column_without_a_default_must_be_named(clock):
    with pytest.raises(ValueError, match="Event.event_time has no default"):
        fastwrite.column_default(Event._meta.get_field("event_time"), clock.now())
