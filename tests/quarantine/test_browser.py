"""In a real browser: an operator finds a quarantined address, reads its evidence and sets it Valid
through the warning. Screenshots go to $QUARANTINE_SHOTS (or the test's temporary folder)."""

import os
from pathlib import Path

import pytest

from mktops.models import AuditLog
from quarantine.models import QuarantineEntry, Status
from tests.quarantine.report_helpers import apply, report

pytestmark = pytest.mark.browser

RAW = ("Final-Recipient: rfc822; ann@example.com\nAction: failed\nStatus: 5.1.1\n"
       "Diagnostic-Code: smtp; 550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown")


@pytest.fixture
def shots(tmp_path):
    folder = Path(os.environ.get("QUARANTINE_SHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_operator_finds_reads_evidence_and_sets_valid(tenant_a, operator_a, page_for, shots):
    apply(tenant_a, report(raw=RAW, delivery_id="spring-sale"),
          *(report(address=f"user{i}@example.org", raw="452 4.2.2 Mailbox full") for i in range(3)))
    page = page_for(operator_a)
    page.goto("/admin/quarantine/quarantineentry/?status__exact=quarantined")
    page.fill("#searchbar", "ann@example")
    page.press("#searchbar", "Enter")
    page.wait_for_load_state()
    page.screenshot(path=str(shots / "quarantine-list.png"), full_page=True)
    page.click("text=ann@example.com")
    page.wait_for_selector("#evidence")
    assert "Recipient address rejected: User unknown" in page.locator(".evidence-raw").first.inner_text()
    assert "spring-sale" in page.locator("#evidence").inner_text()
    page.screenshot(path=str(shots / "quarantine-entry.png"), full_page=True)

    page.click("#set-valid")
    page.wait_for_selector("#set-valid-warning")
    assert "hurt deliverability" in page.locator("#set-valid-warning").inner_text()
    page.screenshot(path=str(shots / "quarantine-set-valid-warning.png"), full_page=True)
    assert QuarantineEntry.objects.get(address="ann@example.com").status == Status.QUARANTINED
    page.fill("#set-valid-note", "customer confirmed the mailbox works")
    page.click("#confirm-set-valid")
    page.wait_for_selector("#entry-status")
    assert page.locator("#entry-status").inner_text() == "Valid"
    page.screenshot(path=str(shots / "quarantine-entry-valid.png"), full_page=True)
    assert QuarantineEntry.objects.get(address="ann@example.com").status == Status.VALID
    assert AuditLog.objects.filter(action="quarantine.entry.set_valid", user=operator_a).count() == 1


def test_screens_of_the_other_pages(tenant_a, operator_a, csm, page_for, shots):
    apply(tenant_a, *(report(address=f"user{i}@example.org", raw="452 4.2.2 Mailbox full", delivery_id=f"d{j}")
                      for i in range(3) for j in range(i + 3)),
          report(channel="sms", provider="smpp", address="+33612345678",
                 raw="id:1 sub:001 dlvrd:000 stat:UNDELIV err:042 text:x"))
    page = page_for(operator_a)
    page.goto(f"/admin/quarantine/quarantineentry/threshold/{tenant_a.pk}/")
    page.fill("#new-threshold", "3")
    page.click("#preview-threshold")
    page.wait_for_selector("#threshold-preview")
    assert page.locator("#preview-enter").inner_text() == "2"
    page.screenshot(path=str(shots / "quarantine-threshold.png"), full_page=True)
    page.goto("/admin/quarantine/quarantineentry/import/")
    page.set_input_files("#import-file", files=[{"name": "q.csv", "mimeType": "text/csv",
                                                  "buffer": b"channel,address,status\nemail,a@example.com,quarantined\n"
                                                            b"sms,zzz,quarantined\n"}])
    page.click("#import-now")
    page.wait_for_selector("#import-errors")
    page.screenshot(path=str(shots / "quarantine-import.png"), full_page=True)
    page.goto("/admin/quarantine/smscqualification/?to_qualify=yes")
    assert "SR Generic UNDELIV 042" in page.content()
    page.screenshot(path=str(shots / "quarantine-smsc.png"), full_page=True)
    page.goto("/admin/quarantine/quarantineentry/add/")
    page.screenshot(path=str(shots / "quarantine-add.png"), full_page=True)
    as_csm = page_for(csm)
    as_csm.goto("/admin/quarantine/emailqualificationrule/")
    assert "5.1.1 bad destination mailbox address" in as_csm.content()
    as_csm.screenshot(path=str(shots / "quarantine-email-rules.png"), full_page=True)
    as_csm.goto("/admin/quarantine/pushqualificationrule/?provider__exact=apns")
    as_csm.screenshot(path=str(shots / "quarantine-push-rules.png"), full_page=True)
