"""SMS status reports in the SMPP 3.4 Appendix B format, the SMSC qualification table, the standard
connector's errors and inbound STOP."""

import pytest

from quarantine.models import QuarantineEntry, SmscConfig, SmscQualification, Status
from quarantine.qualify import DELIVERED, Tables, qualify_sms
from tests.quarantine.report_helpers import apply, report

NUMBER = "+33612345678"


def receipt(stat: str, err: str) -> str:
    return (f"id:0123456789 sub:001 dlvrd:000 submit date:2612011000 done date:2612011001 "
            f"stat:{stat} err:{err} text:Your code is 1234")


def sms(raw, **extra):
    return report(channel="sms", provider=extra.pop("provider", "smpp"), address=NUMBER, raw=raw, **extra)


@pytest.mark.parametrize("stat", ["DELIVRD", "DELIVERED"])
def test_a_status_starting_with_deliv_is_success(tenant_a, stat):
    verdict = qualify_sms(receipt(stat, "000"), "smpp", "status_report", Tables(tenant_a))
    assert verdict.effect == DELIVERED
    assert verdict.message == f"SR Generic {stat} 000|#MESSAGE#"


@pytest.mark.parametrize("stat", ["EXPIRED", "DELETED", "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"])
def test_any_other_status_is_a_hard_error_listed_to_qualify(tenant_a, stat):
    outcome = apply(tenant_a, sms(receipt(stat, "001")))
    assert outcome.outcomes == {"quarantined": 1}
    entry = QuarantineEntry.objects.get()
    assert (entry.error_type, entry.error_reason) == ("hard", "refused")
    assert entry.evidence[-1]["message"] == f"SR Generic {stat} 001|#MESSAGE#"
    row = SmscQualification.objects.get(tenant=tenant_a)
    assert (row.smsc, row.status, row.error_code, row.qualified, row.seen_count) == ("Generic", stat, "001", False, 1)


def test_similar_errors_group_under_one_normalised_message(tenant_a):
    apply(tenant_a, sms(receipt("UNDELIV", "005"), delivery_id="d1"),
          report(channel="sms", provider="smpp", address="+33612345679", raw=receipt("UNDELIV", "005")))
    row = SmscQualification.objects.get()
    assert (row.message, row.seen_count) == ("SR Generic UNDELIV 005|#MESSAGE#", 2)


def test_an_operator_qualification_is_used(tenant_a):
    SmscQualification.objects.create(tenant=tenant_a, smsc="Generic", status="UNDELIV", error_code="088",
                                     error_type="soft", error_reason="unreachable", qualified=True)
    outcome = apply(tenant_a, sms(receipt("UNDELIV", "088")))
    assert outcome.outcomes == {"counted": 1}
    assert QuarantineEntry.objects.get().status == Status.VALID


def test_per_smsc_regular_expressions_and_name(tenant_a):
    SmscConfig.objects.create(tenant=tenant_a, name="AcmeSMSC", status_regex=r"state=(\w+)",
                              error_regex=r"code=(\d+)")
    raw = "msg 42 state=FAILED code=17 extra"
    verdict = qualify_sms(raw, "AcmeSMSC", "status_report", Tables(tenant_a))
    assert verdict.message == "SR AcmeSMSC FAILED 17|#MESSAGE#"
    assert SmscQualification.objects.get().smsc == "AcmeSMSC"
    # the same text through the Appendix B default finds no status: recorded, not counted
    assert not qualify_sms(raw, "smpp", "status_report", Tables(tenant_a)).counts


@pytest.mark.parametrize("kind", ["provider_error", "invalid_ack", "send_error"])
def test_connector_errors_are_soft_unreachable(tenant_a, kind):
    apply(tenant_a, sms("the connector's own words", provider="sms-generic", kind=kind))
    entry = QuarantineEntry.objects.get()
    assert (entry.error_type, entry.error_reason, entry.error_count, entry.status) == (
        "soft", "unreachable", 1, Status.VALID)


@pytest.mark.parametrize("text", ["STOP", "stop", " Stop. ", "STOP please", "unsubscribe"])
def test_an_inbound_stop_denylists_the_number(tenant_a, text):
    apply(tenant_a, sms(text, kind="inbound"))
    assert QuarantineEntry.objects.get().status == Status.DENYLISTED


def test_other_inbound_text_changes_nothing(tenant_a):
    assert apply(tenant_a, sms("Thanks, stop by tomorrow?", kind="inbound")).outcomes == {"delivered": 1}
    assert not QuarantineEntry.objects.exists()


def test_opt_out_keywords_are_configurable_per_smsc(tenant_a):
    SmscConfig.objects.create(tenant=tenant_a, name="AcmeSMSC", optout_keywords="ARRET, STOP")
    apply(tenant_a, sms("arret", provider="AcmeSMSC", kind="inbound"))
    assert QuarantineEntry.objects.get().status == Status.DENYLISTED


def test_a_repeated_report_is_not_counted_again_in_the_smsc_table(tenant_a):
    from quarantine.intake import delivery_reports_ingest

    item = sms(receipt("UNDELIV", "009"))
    outcome = delivery_reports_ingest(tenant=tenant_a, items=[item, item])
    assert (outcome.accepted, outcome.duplicates) == (1, 1)
    assert SmscQualification.objects.get().seen_count == 1
