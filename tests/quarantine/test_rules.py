"""Hard at once, soft at the threshold, ignored recorded, the 10-day reset and the daily cleanup."""

from datetime import timedelta

from mktops.schedules import registered
from quarantine import tasks
from quarantine.models import QuarantineEntry, QuarantineSettings, Status
from tests.quarantine.report_helpers import apply, report

SOFT = "452 4.2.2 Mailbox full"
HARD = "550 5.1.1 User unknown"
IGNORED_RAW = "552 5.3.4 Message size exceeds fixed limit"


def soft(i, **kw):
    return report(raw=SOFT, delivery_id=f"d{i}", **kw)


def entry():
    return QuarantineEntry.objects.get()


def test_a_hard_error_quarantines_at_once(tenant_a):
    assert apply(tenant_a, report(raw=HARD)).outcomes == {"quarantined": 1}
    e = entry()
    assert (e.status, e.error_count, e.domain, e.last_delivery_id, e.last_provider) == (
        Status.QUARANTINED, 1, "example.com", "dlv-1", "smtp")
    assert e.first_error_at == e.last_error_at == e.last_significant_error_at


def test_soft_errors_quarantine_at_the_default_threshold_of_five(tenant_a):
    for i in range(4):
        apply(tenant_a, soft(i))
    assert (entry().status, entry().error_count) == (Status.VALID, 4)
    assert apply(tenant_a, soft(4)).outcomes == {"quarantined": 1}
    assert entry().status == Status.QUARANTINED


def test_the_threshold_is_the_tenants(tenant_a, tenant_b):
    QuarantineSettings.objects.create(tenant=tenant_a, soft_threshold=2)
    apply(tenant_a, soft(0), soft(1))
    apply(tenant_b, soft(0), soft(1))
    assert QuarantineEntry.objects.get(tenant=tenant_a).status == Status.QUARANTINED
    assert QuarantineEntry.objects.get(tenant=tenant_b).status == Status.VALID


def test_case_variants_count_against_one_entry(tenant_a):
    apply(tenant_a, *(soft(i, address=a) for i, a in enumerate(
        ["Ann@Example.com", "ann@example.com", "ANN@EXAMPLE.COM", " ann@Example.COM", "ann@example.COM"])))
    assert (entry().address, entry().error_count, entry().status) == ("ann@example.com", 5, Status.QUARANTINED)


def test_ignored_errors_are_recorded_only(tenant_a):
    apply(tenant_a, *(report(raw=IGNORED_RAW, delivery_id=f"d{i}") for i in range(7)))
    e = entry()
    assert (e.status, e.error_count, e.error_type, len(e.evidence)) == (Status.VALID, 0, "ignored", 7)
    assert e.last_significant_error_at is None


def test_evidence_keeps_the_last_ten_with_time_provider_and_delivery(tenant_a):
    apply(tenant_a, *(report(raw=f"{IGNORED_RAW} #{i}", delivery_id=f"d{i}") for i in range(12)))
    evidence = entry().evidence
    assert len(evidence) == 10
    assert [e["delivery_id"] for e in evidence] == [f"d{i}" for i in range(2, 12)]
    assert {"time", "provider", "raw", "type", "reason", "counted", "outcome"} <= set(evidence[0])


def test_the_same_report_twice_counts_once(tenant_a):
    same = soft(0)
    outcome = apply(tenant_a, same, same)
    assert (outcome.accepted, outcome.duplicates, entry().error_count) == (1, 1, 1)


def test_the_count_resets_when_the_last_significant_error_is_over_ten_days_old(tenant_a, clock):
    apply(tenant_a, *(soft(i) for i in range(4)))
    clock.advance(timedelta(days=10, hours=1))
    apply(tenant_a, soft(10))
    assert (entry().error_count, entry().status) == (1, Status.VALID)


def test_within_ten_days_the_count_goes_on(tenant_a, clock):
    for i in range(5):
        apply(tenant_a, soft(i))
        clock.advance(timedelta(days=2))
    assert entry().status == Status.QUARANTINED


def test_the_daily_cleanup_releases_and_removes(tenant_a, clock):
    apply(tenant_a, report(raw=HARD, address="gone@example.com"),
          report(raw=HARD, address="denied@example.com", kind="complaint"),
          report(raw=IGNORED_RAW, address="recent@example.com"))
    clock.advance(timedelta(days=9))
    apply(tenant_a, report(raw=IGNORED_RAW, address="recent@example.com", delivery_id="later"))
    assert tasks.daily_cleanup() == {"released": 0, "removed": 0}
    clock.advance(timedelta(days=2))
    # the hard error is 11 days old: Valid again, then removed; the complaint stays denylisted;
    # the address whose last error is 2 days old keeps its evidence
    result = tasks.daily_cleanup()
    assert result["released"] == 1
    left = dict(QuarantineEntry.objects.values_list("address", "status"))
    assert left == {"denied@example.com": Status.DENYLISTED, "recent@example.com": Status.VALID}


def test_the_cleanup_is_a_daily_schedule():
    jobs = {j.name: j for j in registered()}
    assert (jobs["quarantine.daily_cleanup"].func, jobs["quarantine.daily_cleanup"].minutes) == (
        "quarantine.tasks.daily_cleanup", 24 * 60)


def test_an_allowlisted_address_stays_listed_and_targeted(tenant_a):
    apply(tenant_a, report(raw=SOFT))
    QuarantineEntry.objects.update(status=Status.ALLOWLISTED)
    apply(tenant_a, report(raw=HARD, delivery_id="d2"), *(soft(i) for i in range(5)))
    e = entry()
    assert (e.status, e.excluded) == (Status.ALLOWLISTED, False)
    assert e.evidence[-1]["outcome"] == "recorded"


def test_a_denylisted_address_stays_denylisted(tenant_a, clock):
    apply(tenant_a, report(raw="spam", kind="complaint"))
    apply(tenant_a, report(raw=HARD, delivery_id="d2"))
    clock.advance(timedelta(days=30))
    tasks.daily_cleanup()
    assert entry().status == Status.DENYLISTED


def test_quarantine_is_per_address_and_tenant(tenant_a, tenant_b):
    apply(tenant_a, report(raw=HARD))
    assert not QuarantineEntry.objects.filter(tenant=tenant_b).exists()
