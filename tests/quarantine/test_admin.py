"""The quarantine admin pages and actions, per persona: tenant B gets 404, support reads and never
changes, CSMs see every tenant and edit the platform's qualification tables."""

import csv
import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from mktops.models import AuditLog
from quarantine import manual
from quarantine.models import EmailQualificationRule, QuarantineEntry, SmscQualification, Status
from tests.quarantine.report_helpers import apply, report

LIST = reverse("admin:quarantine_quarantineentry_changelist")
RAW = "550 5.1.1 <ann@example.com>: Recipient address rejected: User unknown in virtual mailbox table"


@pytest.fixture
def entry(tenant_a):
    apply(tenant_a, report(raw=RAW))
    return QuarantineEntry.objects.get(tenant=tenant_a)


@pytest.fixture
def entry_b(tenant_b):
    apply(tenant_b, report(address="bea@example.org", raw=RAW))
    return QuarantineEntry.objects.get(tenant=tenant_b)


def url(name, *args):
    return reverse(f"admin:{name}", args=args)


def change_url(entry):
    return url("quarantine_quarantineentry_change", entry.pk)


# --- the list ------------------------------------------------------------------------------------
def test_operator_sees_own_tenant_only(as_operator_a, entry, entry_b):
    page = as_operator_a.get(LIST).content.decode()
    assert "ann@example.com" in page and "bea@example.org" not in page


def test_support_reads_the_list_without_change_tools(as_support_a, entry):
    response = as_support_a.get(LIST)
    assert response.status_code == 200
    page = response.content.decode()
    assert "ann@example.com" in page
    assert "import-csv" not in page and "export-csv" not in page


def test_csm_sees_the_platform(as_csm, entry, entry_b):
    page = as_csm.get(LIST).content.decode()
    assert "ann@example.com" in page and "bea@example.org" in page


@pytest.mark.parametrize("query, shown", [
    ("channel__exact=email", True), ("channel__exact=sms", False), ("status__exact=quarantined", True),
    ("status__exact=valid", False), ("error_reason__exact=unknown_user", True), ("domain=example.com", True),
    ("domain=other.example", False), ("q=ANN@Example", True), ("q=zzz", False),
])
def test_filters(as_operator_a, entry, query, shown):
    response = as_operator_a.get(f"{LIST}?{query}")
    assert response.status_code == 200
    assert ("ann@example.com" in response.content.decode()) is shown


def test_filtering_on_another_tenant_is_refused(as_operator_b, entry):
    assert as_operator_b.get(f"{LIST}?tenant={entry.tenant_id}").status_code == 400


# --- the entry page ----------------------------------------------------------------------------
def test_the_entry_page_shows_the_evidence(as_operator_a, entry):
    page = as_operator_a.get(change_url(entry)).content.decode()
    assert "User unknown in virtual mailbox table" in page
    assert 'id="set-valid"' in page and 'id="allowlist"' in page
    assert 'name="_save"' not in page


def test_support_reads_the_evidence_without_actions(as_support_a, entry):
    page = as_support_a.get(change_url(entry)).content.decode()
    assert "User unknown in virtual mailbox table" in page
    assert 'id="set-valid"' not in page and 'id="allowlist"' not in page


def test_another_tenant_gets_404_on_every_entry_page(as_operator_b, entry):
    for path in (change_url(entry), url("quarantine_entry_set_valid", entry.pk)):
        assert as_operator_b.get(path).status_code == 404
    for name in ("quarantine_entry_set_valid", "quarantine_entry_allowlist", "quarantine_entry_denylist"):
        assert as_operator_b.post(url(name, entry.pk), {"confirm": "yes"}).status_code == 404
    assert as_operator_b.post(change_url(entry), {}).status_code == 404
    entry.refresh_from_db()
    assert entry.status == Status.QUARANTINED


def test_the_change_form_takes_no_post(as_operator_a, entry):
    assert as_operator_a.post(change_url(entry), {"status": "valid"}).status_code == 405
    entry.refresh_from_db()
    assert entry.status == Status.QUARANTINED


def test_entries_cannot_be_deleted(as_operator_a, as_csm, entry):
    assert as_operator_a.post(url("quarantine_quarantineentry_delete", entry.pk), {"post": "yes"}).status_code == 403
    assert as_csm.post(url("quarantine_quarantineentry_delete", entry.pk), {"post": "yes"}).status_code == 403
    assert QuarantineEntry.objects.filter(pk=entry.pk).exists()


# --- set Valid, allowlist, denylist ----------------------------------------------------------------
def test_set_valid_warns_first_and_a_get_changes_nothing(as_operator_a, entry):
    response = as_operator_a.get(url("quarantine_entry_set_valid", entry.pk))
    assert response.status_code == 200
    assert manual.SET_VALID_WARNING in response.content.decode()
    entry.refresh_from_db()
    assert entry.status == Status.QUARANTINED
    # a POST without the confirmation shows the warning again
    as_operator_a.post(url("quarantine_entry_set_valid", entry.pk))
    entry.refresh_from_db()
    assert entry.status == Status.QUARANTINED


def test_set_valid_after_the_warning(as_operator_a, entry):
    response = as_operator_a.post(url("quarantine_entry_set_valid", entry.pk), {"confirm": "yes", "note": "typo fixed"})
    assert response.status_code == 302
    entry.refresh_from_db()
    assert (entry.status, entry.error_count) == (Status.VALID, 0)
    assert AuditLog.objects.get(action="quarantine.entry.set_valid").detail["note"] == "typo fixed"


@pytest.mark.parametrize("name, status", [("quarantine_entry_allowlist", Status.ALLOWLISTED),
                                          ("quarantine_entry_denylist", Status.DENYLISTED)])
def test_allowlist_and_denylist(as_operator_a, entry, name, status):
    assert as_operator_a.get(url(name, entry.pk)).status_code == 405
    assert as_operator_a.post(url(name, entry.pk)).status_code == 302
    entry.refresh_from_db()
    assert entry.status == status
    assert AuditLog.objects.filter(action__startswith="quarantine.entry.", object_id=str(entry.pk)).count() == 1


def test_support_cannot_change_an_entry(as_support_a, entry):
    for name in ("quarantine_entry_set_valid", "quarantine_entry_allowlist", "quarantine_entry_denylist"):
        assert as_support_a.post(url(name, entry.pk), {"confirm": "yes"}).status_code == 403
    assert as_support_a.get(url("quarantine_entry_set_valid", entry.pk)).status_code == 403
    entry.refresh_from_db()
    assert entry.status == Status.QUARANTINED
    assert not AuditLog.objects.filter(action__startswith="quarantine.entry.").exists()


def test_the_csm_can_set_any_tenants_entry_valid(as_csm, entry_b):
    as_csm.post(url("quarantine_entry_set_valid", entry_b.pk), {"confirm": "yes"})
    entry_b.refresh_from_db()
    assert entry_b.status == Status.VALID


# --- add by hand -------------------------------------------------------------------------------
def test_operator_adds_an_address_by_hand(as_operator_a, tenant_a):
    response = as_operator_a.post(url("quarantine_quarantineentry_add"), {
        "tenant": tenant_a.pk, "channel": "email", "address": "New@Example.com", "status": "denylisted",
        "error_reason": ""})
    assert response.status_code == 302, response.content
    entry = QuarantineEntry.objects.get()
    assert (entry.address, entry.status) == ("new@example.com", Status.DENYLISTED)
    assert AuditLog.objects.filter(action="quarantine.entry.add").count() == 1


def test_a_bad_address_is_shown_beside_its_field(as_operator_a, tenant_a):
    response = as_operator_a.post(url("quarantine_quarantineentry_add"), {
        "tenant": tenant_a.pk, "channel": "sms", "address": "abc", "status": "quarantined"})
    assert response.status_code == 200
    assert "international format" in response.content.decode()
    assert not QuarantineEntry.objects.exists()


def test_support_and_tenant_b_cannot_add_to_tenant_a(as_support_a, as_operator_b, tenant_a):
    assert as_support_a.get(url("quarantine_quarantineentry_add")).status_code == 403
    response = as_operator_b.post(url("quarantine_quarantineentry_add"), {
        "tenant": tenant_a.pk, "channel": "email", "address": "x@example.com", "status": "quarantined"})
    assert response.status_code == 200  # the tenant is not a choice: the form refuses it
    assert not QuarantineEntry.objects.exists()


# --- CSV ---------------------------------------------------------------------------------------
def _csv(text):
    return SimpleUploadedFile("q.csv", text.encode(), content_type="text/csv")


def test_import_reports_bad_lines(as_operator_a, tenant_a):
    response = as_operator_a.post(url("quarantine_entry_import"), {
        "file": _csv("channel,address,status\nemail,a@example.com,quarantined\nsms,zzz,quarantined\n")})
    page = response.content.decode()
    assert "1 added, 0 updated, 1 line(s) refused" in page
    assert "<td>3</td><td>address</td>" in page
    assert QuarantineEntry.objects.filter(tenant=tenant_a).count() == 1


def test_import_refused_for_support_and_another_tenant(as_support_a, as_operator_b, tenant_a):
    body = {"tenant": tenant_a.pk, "file": _csv("channel,address,status\nemail,a@example.com,quarantined\n")}
    assert as_support_a.post(url("quarantine_entry_import"), body).status_code == 403
    body["file"] = _csv("channel,address,status\nemail,a@example.com,quarantined\n")
    assert as_operator_b.post(url("quarantine_entry_import"), body).status_code == 404
    assert not QuarantineEntry.objects.exists()


def test_export_is_a_post_scoped_to_the_operator_and_filters(as_operator_a, entry, entry_b, tenant_a):
    apply(tenant_a, report(channel="push", provider="apns", address="tok", raw='{"reason": "Unregistered"}'))
    assert as_operator_a.get(url("quarantine_entry_export")).status_code == 405
    response = as_operator_a.post(url("quarantine_entry_export") + "?channel__exact=email")
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [r["address"] for r in rows] == ["ann@example.com"]
    assert AuditLog.objects.get(action="quarantine.csv_export").detail == {"rows": 1}


def test_support_cannot_export(as_support_a, entry):
    assert as_support_a.post(url("quarantine_entry_export")).status_code == 403


# --- the threshold page ------------------------------------------------------------------------------
def test_threshold_preview_then_apply(as_operator_a, tenant_a):
    apply(tenant_a, *(report(raw="452 4.2.2 Mailbox full", delivery_id=f"d{i}") for i in range(3)))
    path = url("quarantine_threshold", tenant_a.pk)
    page = as_operator_a.post(path, {"soft_threshold": "3"}).content.decode()
    assert 'id="preview-enter">1<' in page and 'id="preview-leave">0<' in page
    assert QuarantineEntry.objects.get().status == Status.VALID  # previewed only
    as_operator_a.post(path, {"soft_threshold": "3", "confirm": "yes"})
    assert QuarantineEntry.objects.get().status == Status.QUARANTINED


def test_threshold_bad_value_is_said(as_operator_a, tenant_a):
    page = as_operator_a.post(url("quarantine_threshold", tenant_a.pk), {"soft_threshold": "0"}).content.decode()
    assert manual.ERR_THRESHOLD in page


def test_threshold_support_reads_tenant_b_404(as_support_a, as_operator_b, tenant_a):
    path = url("quarantine_threshold", tenant_a.pk)
    assert as_support_a.get(path).status_code == 200
    assert as_support_a.post(path, {"soft_threshold": "2", "confirm": "yes"}).status_code == 403
    assert as_operator_b.get(path).status_code == 404
    assert as_operator_b.post(path, {"soft_threshold": "2", "confirm": "yes"}).status_code == 404
    assert not AuditLog.objects.filter(action="quarantine.threshold.set").exists()


# --- qualification tables ------------------------------------------------------------------------
def test_operators_and_support_read_the_email_table_csms_edit_it(as_operator_a, as_support_a, as_csm):
    rule = EmailQualificationRule.objects.get(key="5-1-1-bad-mailbox")
    for client in (as_operator_a, as_support_a):
        assert client.get(url("quarantine_emailqualificationrule_changelist")).status_code == 200
        assert client.get(url("quarantine_emailqualificationrule_change", rule.pk)).status_code == 200
        assert client.get(url("quarantine_emailqualificationrule_add")).status_code == 403
    response = as_csm.post(url("quarantine_emailqualificationrule_add"), {
        "key": "retired", "description": "Retired", "priority": 150, "code_pattern": "5.x.x",
        "text_pattern": "retired", "error_type": "hard", "error_reason": "account_disabled", "counts": "on",
        "enabled": "on"})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action="quarantine.emailqualificationrule.add").exists()


def test_a_bad_regex_or_code_pattern_is_refused_beside_the_field(as_csm):
    response = as_csm.post(url("quarantine_emailqualificationrule_add"), {
        "key": "bad", "description": "Bad", "priority": 1, "code_pattern": "5.1", "text_pattern": "(unclosed",
        "error_type": "hard", "error_reason": "refused"})
    page = response.content.decode()
    assert response.status_code == 200
    assert "RFC 3463 code of three parts" in page and "Not a valid regular expression" in page


def test_a_shipped_rule_cannot_be_deleted(as_csm):
    rule = EmailQualificationRule.objects.get(key="5-1-1-bad-mailbox")
    assert as_csm.post(url("quarantine_emailqualificationrule_delete", rule.pk), {"post": "yes"}).status_code == 403


def test_the_push_tables_are_readable(as_support_a):
    page = as_support_a.get(url("quarantine_pushqualificationrule_changelist") + "?provider__exact=fcm").content
    assert b"THIRD_PARTY_AUTH_ERROR" in page


def test_operators_qualify_their_smsc_statuses(as_operator_a, as_support_a, as_operator_b, tenant_a):
    apply(tenant_a, report(channel="sms", provider="smpp", address="+33612345678",
                           raw="id:1 sub:001 dlvrd:000 stat:UNDELIV err:042 text:x"))
    row = SmscQualification.objects.get()
    listed = as_operator_a.get(url("quarantine_smscqualification_changelist") + "?to_qualify=yes").content.decode()
    assert "SR Generic UNDELIV 042" in listed
    path = url("quarantine_smscqualification_change", row.pk)
    assert as_operator_b.get(path).status_code == 404
    assert as_support_a.post(path, {"error_type": "soft", "error_reason": "unreachable"}).status_code == 403
    assert as_operator_a.post(path, {"error_type": "soft", "error_reason": "unreachable"}).status_code == 302
    row.refresh_from_db()
    assert (row.error_type, row.error_reason, row.qualified) == ("soft", "unreachable", True)
    assert AuditLog.objects.filter(action="quarantine.smscqualification.change", tenant=tenant_a).exists()


def test_smsc_config_regex_needs_a_group(as_operator_a, tenant_a):
    response = as_operator_a.post(url("quarantine_smscconfig_add"), {
        "tenant": tenant_a.pk, "name": "Acme", "status_regex": r"stat:\w+", "error_regex": r"err:(\w+)",
        "optout_keywords": "STOP"})
    assert response.status_code == 200
    assert "needs a group" in response.content.decode()


def test_platform_tables_have_no_bulk_delete(as_csm):
    rules = list(EmailQualificationRule.objects.values_list("pk", flat=True)[:3])
    response = as_csm.post(url("quarantine_emailqualificationrule_changelist"),
                           {"action": "delete_selected", "_selected_action": rules, "post": "yes"})
    assert response.status_code in (200, 302)
    assert EmailQualificationRule.objects.filter(pk__in=rules).count() == 3


def test_bulk_delete_of_smsc_rows_is_audited_and_scoped(as_operator_a, as_operator_b, tenant_a):
    row = SmscQualification.objects.create(tenant=tenant_a, smsc="Generic", status="UNDELIV", error_code="1")
    body = {"action": "delete_selected", "_selected_action": [row.pk], "post": "yes"}
    as_operator_b.post(url("quarantine_smscqualification_changelist"), body)
    assert SmscQualification.objects.filter(pk=row.pk).exists()
    as_operator_a.post(url("quarantine_smscqualification_changelist"), body)
    assert not SmscQualification.objects.filter(pk=row.pk).exists()
    assert AuditLog.objects.filter(action="quarantine.smscqualification.delete", tenant=tenant_a).count() == 1


def test_smsc_config_pages_per_persona(as_operator_a, as_support_a, as_operator_b, tenant_a):
    from quarantine.models import SmscConfig

    config = SmscConfig.objects.create(tenant=tenant_a, name="Acme")
    path = url("quarantine_smscconfig_change", config.pk)
    assert as_operator_b.get(path).status_code == 404
    assert as_operator_b.post(path, {"name": "Taken"}).status_code == 404
    assert as_support_a.get(path).status_code == 200
    body = {"name": "Acme2", "status_regex": r"stat:(\w+)", "error_regex": r"err:(\w+)", "optout_keywords": "STOP"}
    assert as_support_a.post(path, body).status_code == 403
    assert as_operator_a.post(path, body).status_code == 302
    config.refresh_from_db()
    assert config.name == "Acme2"
    assert AuditLog.objects.filter(action="quarantine.smscconfig.change", tenant=tenant_a).count() == 1


def test_only_csms_change_the_push_table(as_operator_a, as_csm):
    from quarantine.models import PushQualificationRule

    rule = PushQualificationRule.objects.get(provider="apns", code="Unregistered")
    path = url("quarantine_pushqualificationrule_change", rule.pk)
    body = {"provider": "apns", "code": "Unregistered", "scenario": "x", "error_type": "soft",
            "error_reason": "refused"}
    assert as_operator_a.post(path, body).status_code == 403
    assert as_csm.post(path, body).status_code == 302
    rule.refresh_from_db()
    assert rule.error_type == "soft"
