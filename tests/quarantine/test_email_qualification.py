"""Email feedback qualified by RFC 3463 code and text (quarantine/qualification/email.json)."""

import pytest

from quarantine.models import EmailQualificationRule, QuarantineEntry, Status
from quarantine.qualify import DELIVERED, DENYLIST, Tables, enhanced_code, qualify_email
from tests.quarantine.report_helpers import apply, report

DSN = """Reporting-MTA: dns; mx.example.net
Arrival-Date: Tue, 1 Dec 2026 10:00:00 +0000

Final-Recipient: rfc822; ann@example.com
Action: failed
Status: {status}
Diagnostic-Code: smtp; {diagnostic}
"""

ARF = """Content-Type: multipart/report; report-type=feedback-report; boundary="b"

--b
Content-Type: text/plain

This is an email abuse report.
--b
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: SomeGenerator/1.0
Version: 1
Original-Rcpt-To: ann@example.com
--b--
"""

CASES = [
    # (raw, type, reason, counts)
    ("550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown", "hard", "unknown_user", True),
    (DSN.format(status="5.1.1", diagnostic="550 5.1.1 no such mailbox"), "hard", "unknown_user", True),
    ("550 5.1.2 Host unknown: example.invalid", "hard", "invalid_domain", True),
    ("554 5.4.4 Unable to route: no mail hosts for domain", "hard", "invalid_domain", True),
    ("552 5.2.2 The email account that you tried to reach is over quota", "soft", "mailbox_full", True),
    ("452 4.2.2 Mailbox full", "soft", "mailbox_full", True),
    ("421 4.4.2 Connection timed out", "soft", "unreachable", True),
    ("450 4.3.0 Temporary system problem, try again later", "soft", "unreachable", True),
    ("550 5.2.1 The email account that you tried to reach is disabled", "hard", "account_disabled", True),
    (DSN.format(status="5.0.0", diagnostic="550 User unknown in virtual mailbox table"), "hard", "unknown_user", True),
    # the sender's fault: recorded, never counted against the address
    ("554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
     "soft", "refused", False),
    ("550 5.7.26 This message does not have authentication information or fails to pass DMARC",
     "soft", "refused", False),
    ("550 5.7.1 Our system has detected that this message is likely unsolicited mail (reputation)",
     "soft", "refused", False),
    ("554 Message rejected due to local policy", "soft", "refused", False),
    ("451 4.7.1 Greylisted, please try again later", "soft", "refused", False),
    ("552 5.3.4 Message size exceeds fixed limit", "ignored", "refused", False),
    ("553 Sorry, something else went wrong", "soft", "refused", True),
    # as large mailbox providers word them
    ("550-5.1.1 The email account that you tried to reach does not exist. Please try double-checking the "
     "recipient's email address for typos or unnecessary spaces. For more information, go to "
     "https://support.google.com/mail/?p=NoSuchUser", "hard", "unknown_user", True),
    ("550 5.5.0 Requested action not taken: mailbox unavailable", "hard", "unknown_user", True),
    ("554 delivery error: dd This user doesn't have a yahoo.com account (ann@yahoo.com) [0]",
     "hard", "unknown_user", True),
    ("554 delivery error: dd Sorry your message to ann@yahoo.com cannot be delivered. This mailbox is "
     "disabled (554.30)", "hard", "account_disabled", True),
    ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]. To request removal from this list please "
     "visit https://sender.office.com/", "soft", "refused", False),
    ("550 5.1.1 RESOLVER.ADR.RecipNotFound; not found; see our policy", "hard", "unknown_user", True),
    ("something without a code", "soft", "undefined", True),
]


@pytest.mark.parametrize("raw, error_type, reason, counts", CASES)
def test_the_email_table(db, raw, error_type, reason, counts):
    verdict = qualify_email(raw, Tables(None))
    assert (verdict.error_type, verdict.error_reason, verdict.counts) == (error_type, reason, counts), verdict.rule


def test_enhanced_codes_are_read_from_dsn_and_reply():
    assert enhanced_code(DSN.format(status="4.2.2", diagnostic="452 full")) == ("4", "2", "2")
    assert enhanced_code("550-5.1.1 The email account does not exist") == ("5", "1", "1")
    assert enhanced_code("550 User unknown") == ("5", "0", "0")
    assert enhanced_code("no code here") is None


def test_a_success_dsn_is_not_an_error(db):
    assert qualify_email(DSN.format(status="2.0.0", diagnostic="250 OK"), Tables(None)).effect == DELIVERED


def test_an_arf_spam_complaint_denylists_the_address_only(tenant_a):
    assert qualify_email(ARF, Tables(tenant_a)).effect == DENYLIST
    outcome = apply(tenant_a, report(raw=ARF), report(channel="sms", provider="smpp", address="+33612345678",
                                                         raw="id:1 sub:001 dlvrd:001 stat:DELIVRD err:000 text:hi"))
    assert outcome.outcomes == {"denylisted": 1, "delivered": 1}
    assert QuarantineEntry.objects.get(channel="email").status == Status.DENYLISTED
    assert not QuarantineEntry.objects.filter(channel="sms").exists()


def test_a_complaint_can_be_reported_as_such(tenant_a):
    apply(tenant_a, report(raw="user marked the message as spam", kind="complaint"))
    assert QuarantineEntry.objects.get().status == Status.DENYLISTED


def test_the_senders_fault_is_kept_as_evidence_not_counted(tenant_a):
    raw = "554 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org"
    apply(tenant_a, *(report(raw=raw, delivery_id=f"d{i}") for i in range(6)))
    entry = QuarantineEntry.objects.get()
    assert (entry.status, entry.error_count) == (Status.VALID, 0)
    assert [e["counted"] for e in entry.evidence] == [False] * 6
    assert entry.evidence[-1]["raw"] == raw


def test_a_csm_rule_extends_the_table(tenant_a):
    raw = "550 Mailbox retired by the customer"
    assert qualify_email(raw, Tables(tenant_a)).error_reason == "refused"
    EmailQualificationRule.objects.create(key="retired", description="Retired mailbox", priority=150,
                                          code_pattern="5.x.x", text_pattern="retired", error_type="hard",
                                          error_reason="account_disabled")
    assert qualify_email(raw, Tables(tenant_a)).error_reason == "account_disabled"
