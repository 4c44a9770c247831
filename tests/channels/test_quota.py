"""The channel quota: the refusal names the quota and who raises it, and it holds when two
operators create at the same moment (two threads, two connections; PostgreSQL locks the tenant
row, SQLite's IMMEDIATE transactions serialise the writers)."""

import threading

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import connection

from channels.models import Channel
from channels.services import lifecycle as svc
from tests.channels.lifecycle_helpers import make_channel


@pytest.mark.django_db
def test_the_refusal_says_the_quota_and_that_the_csm_raises_it(tenant_a):
    tenant_a.channel_quota = 2
    tenant_a.save()
    make_channel(tenant_a, name="one")
    make_channel(tenant_a, name="two")
    with pytest.raises(ValidationError) as caught:
        make_channel(tenant_a, name="three")
    [message] = caught.value.message_dict[NON_FIELD_ERRORS]
    assert message == svc.ERR_QUOTA.format(count=2, quota=2)
    assert "quota of 2" in message and "CSM" in message and "raises" in message
    assert Channel.objects.count() == 2


@pytest.mark.django_db
def test_the_default_quota_is_100(tenant_a):
    assert tenant_a.channel_quota == 100


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_creations_cannot_pass_the_quota(tenant_a):
    tenant_a.channel_quota = 1
    tenant_a.save()
    barrier = threading.Barrier(2)
    outcomes = []

    def create(name):
        try:
            barrier.wait()
            make_channel(tenant_a, name=name)
            outcomes.append("created")
        except ValidationError as exc:
            outcomes.append(exc.message_dict[NON_FIELD_ERRORS][0])
        finally:
            connection.close()

    threads = [threading.Thread(target=create, args=(f"racer {i}",)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == sorted(["created", svc.ERR_QUOTA.format(count=1, quota=1)])
    assert Channel.objects.filter(tenant=tenant_a).count() == 1
