"""mktops.ratelimit: attempts counted from the audit log when they start, so simultaneous
requests (several web processes on one database) cannot all slip under the limit."""

import threading
from datetime import timedelta

import pytest
from django.db import connection

from mktops import ratelimit
from mktops.models import AuditLog


@pytest.mark.django_db(transaction=True)
def test_simultaneous_attempts_never_exceed_the_limit(tenant_a, tenant_b):
    start = threading.Barrier(15)
    outcomes = []

    def attempt():
        try:
            start.wait()
            ratelimit.attempt_start(tenant=tenant_a, action="test.probe", what="probes", limit=10,
                                    window=timedelta(minutes=10))
            outcomes.append("done")
        except ratelimit.RateLimited:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=attempt) for _ in range(15)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["done"] * 10 + ["refused"] * 5
    assert AuditLog.objects.filter(tenant=tenant_a, action="test.probe").count() == 10
    assert AuditLog.objects.filter(tenant=tenant_a, action=ratelimit.AUDIT_REFUSED).count() == 5
    # counted per tenant and per action
    ratelimit.attempt_start(tenant=tenant_b, action="test.probe", what="probes", limit=10)
    ratelimit.attempt_start(tenant=tenant_a, action="test.other", what="probes", limit=10)


@pytest.mark.django_db
def test_the_refusal_says_when_the_oldest_attempt_ages_out(tenant_a, clock):
    window = timedelta(minutes=10)
    ratelimit.attempt_start(tenant=tenant_a, action="test.probe", what="probes", limit=2, window=window)
    clock.advance(timedelta(minutes=3, seconds=30))
    row = ratelimit.attempt_start(tenant=tenant_a, action="test.probe", what="probes", limit=2, window=window)
    ratelimit.attempt_finish(row, ok=True)
    assert AuditLog.objects.get(pk=row.pk).detail == {"ok": True}
    with pytest.raises(ratelimit.RateLimited) as err:
        ratelimit.attempt_start(tenant=tenant_a, action="test.probe", what="probes", limit=2, window=window)
    # the first attempt leaves the window in 6 min 30 s: said as 7 minutes, never less than what is left
    assert err.value.minutes == 7
    assert err.value.message == ratelimit.ERR_TOO_MANY.format(what="probes", limit=2, window=10, minutes=7)
