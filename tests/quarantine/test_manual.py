"""Manual control services: set Valid, allowlist, denylist, add by hand, the threshold preview; each audited."""

import pytest
from django.core.exceptions import ValidationError

from mktops.models import AuditLog
from quarantine import manual
from quarantine.models import QuarantineEntry, QuarantineSettings, Status
from tests.quarantine.report_helpers import apply, report

SOFT = "452 4.2.2 Mailbox full"


@pytest.fixture
def quarantined(tenant_a):
    apply(tenant_a, report(raw="550 5.1.1 User unknown"))
    return QuarantineEntry.objects.get()


def test_set_valid_resets_the_count_keeps_the_evidence_and_is_audited(quarantined, operator_a):
    entry = manual.entry_set_status(entry=quarantined, status=Status.VALID, by=operator_a, note="fixed mailbox")
    assert (entry.status, entry.error_count, len(entry.evidence)) == (Status.VALID, 0, 1)
    row = AuditLog.objects.get(action="quarantine.entry.set_valid")
    assert (row.user, row.tenant, row.detail["before"], row.detail["note"]) == (
        operator_a, quarantined.tenant, "quarantined", "fixed mailbox")
    assert row.detail["warning_shown"] == manual.SET_VALID_WARNING


@pytest.mark.parametrize("status, action", [(Status.ALLOWLISTED, "quarantine.entry.allowlist"),
                                            (Status.DENYLISTED, "quarantine.entry.denylist")])
def test_allowlist_and_denylist_are_audited(quarantined, operator_a, status, action):
    assert manual.entry_set_status(entry=quarantined, status=status, by=operator_a).status == status
    assert AuditLog.objects.filter(action=action, object_id=str(quarantined.pk)).count() == 1


def test_setting_the_same_status_is_refused_not_reported_as_done(quarantined, operator_a):
    with pytest.raises(ValidationError) as exc:
        manual.entry_set_status(entry=quarantined, status=Status.QUARANTINED, by=operator_a)
    assert exc.value.message_dict == {"status": [manual.ERR_SAME_STATUS]}
    assert not AuditLog.objects.filter(action__startswith="quarantine.entry").exists()


def test_add_by_hand_normalises_and_updates_an_existing_entry(tenant_a, operator_a):
    entry = manual.entry_add(tenant=tenant_a, channel="email", address=" Ann@Example.COM", status="quarantined",
                             error_reason="unknown_user", by=operator_a)
    assert (entry.address, entry.domain, entry.status, entry.error_reason) == (
        "ann@example.com", "example.com", Status.QUARANTINED, "unknown_user")
    again = manual.entry_add(tenant=tenant_a, channel="email", address="ANN@example.com", status="denylisted",
                             by=operator_a)
    assert again.pk == entry.pk and again.status == Status.DENYLISTED
    rows = AuditLog.objects.filter(action="quarantine.entry.add").order_by("id")
    details = list(rows.values_list("detail", flat=True))
    assert [(d["before"], d["after"]) for d in details] == [(None, "quarantined"), ("quarantined", "denylisted")]


@pytest.mark.parametrize("channel, address, status, reason, field", [
    ("fax", "x", "quarantined", "", "channel"), ("sms", "abc", "quarantined", "", "address"),
    ("email", "a@example.com", "gone", "", "status"), ("email", "a@example.com", "valid", "lost", "error_reason"),
])
def test_add_by_hand_refuses_bad_input_by_field(tenant_a, operator_a, channel, address, status, reason, field):
    with pytest.raises(ValidationError) as exc:
        manual.entry_add(tenant=tenant_a, channel=channel, address=address, status=status, error_reason=reason,
                         by=operator_a)
    assert list(exc.value.message_dict) == [field]


def test_threshold_preview_counts_who_would_enter_and_leave(tenant_a, operator_a):
    apply(tenant_a, *(report(address="three@example.com", raw=SOFT, delivery_id=f"t{i}") for i in range(3)))
    apply(tenant_a, *(report(address="five@example.com", raw=SOFT, delivery_id=f"f{i}") for i in range(5)))
    apply(tenant_a, report(address="hard@example.com", raw="550 5.1.1 User unknown"))
    lower = manual.threshold_preview(tenant=tenant_a, threshold=3)
    assert (lower.current, lower.enter, lower.leave) == (5, 1, 0)
    higher = manual.threshold_preview(tenant=tenant_a, threshold=6)
    assert (higher.enter, higher.leave) == (0, 1)
    assert not AuditLog.objects.filter(action="quarantine.threshold.set").exists()  # a preview changes nothing
    manual.threshold_set(tenant=tenant_a, threshold=6, by=operator_a)
    statuses = dict(QuarantineEntry.objects.values_list("address", "status"))
    assert statuses == {"three@example.com": "valid", "five@example.com": "valid", "hard@example.com": "quarantined"}
    assert QuarantineSettings.objects.get(tenant=tenant_a).soft_threshold == 6
    row = AuditLog.objects.get(action="quarantine.threshold.set")
    assert row.detail == {"before": 5, "after": 6, "entered": 0, "left": 1}


@pytest.mark.parametrize("value", ["0", "101", "five", None])
def test_a_bad_threshold_names_the_field(tenant_a, value):
    with pytest.raises(ValidationError) as exc:
        manual.threshold_preview(tenant=tenant_a, threshold=value)
    assert exc.value.message_dict == {"soft_threshold": [manual.ERR_THRESHOLD]}
