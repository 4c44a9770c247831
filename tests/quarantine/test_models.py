"""The entry model's constraints, the shipped tables as rows, and the migrations in step with the models."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction

from quarantine.models import (
    EmailQualificationRule,
    PushQualificationRule,
    QuarantineEntry,
    SmscConfig,
    Status,
)
from quarantine.qualification import install_shipped, load


def test_one_entry_per_tenant_channel_and_address(tenant_a, tenant_b):
    QuarantineEntry.objects.create(tenant=tenant_a, channel="email", address="ann@example.com")
    QuarantineEntry.objects.create(tenant=tenant_b, channel="email", address="ann@example.com")
    QuarantineEntry.objects.create(tenant=tenant_a, channel="push", address="ann@example.com")
    with pytest.raises(IntegrityError), transaction.atomic():
        QuarantineEntry.objects.create(tenant=tenant_a, channel="email", address="ann@example.com")


def test_defaults_and_exclusion(tenant_a):
    entry = QuarantineEntry.objects.create(tenant=tenant_a, channel="sms", address="+33612345678")
    assert (entry.status, entry.error_count, entry.evidence, entry.excluded) == (Status.VALID, 0, [], False)
    for status, excluded in [(Status.QUARANTINED, True), (Status.DENYLISTED, True), (Status.ALLOWLISTED, False)]:
        entry.status = status
        assert entry.excluded is excluded


def test_the_shipped_rules_are_installed_once_and_csm_changes_kept(db):
    assert EmailQualificationRule.objects.count() == len(load("email")["rules"])
    assert PushQualificationRule.objects.count() == len(load("apns")["rules"]) + len(load("fcm")["rules"])
    EmailQualificationRule.objects.filter(key="5-2-2-mailbox-full").update(error_type="hard")
    EmailQualificationRule.objects.filter(key="no-code").delete()
    assert install_shipped() == 1
    assert EmailQualificationRule.objects.get(key="5-2-2-mailbox-full").error_type == "hard"


def test_the_load_command(db, capsys):
    EmailQualificationRule.objects.filter(key="no-code").delete()
    call_command("quarantine_load_rules")
    assert "1 shipped rule(s) added." in capsys.readouterr().out


@pytest.mark.parametrize("code, text, field", [("5.1", "", "code_pattern"), ("6.1.1", "", "code_pattern"),
                                               ("", "(open", "text_pattern")])
def test_a_rule_that_cannot_be_used_is_refused(db, code, text, field):
    rule = EmailQualificationRule(key="k", description="d", code_pattern=code, text_pattern=text,
                                  error_type="soft", error_reason="refused")
    with pytest.raises(ValidationError) as exc:
        rule.full_clean()
    assert field in exc.value.message_dict


def test_an_smsc_regex_needs_its_group(tenant_a):
    config = SmscConfig(tenant=tenant_a, name="Acme", status_regex=r"stat:\w+", optout_keywords=" , ")
    with pytest.raises(ValidationError) as exc:
        config.full_clean()
    assert set(exc.value.message_dict) == {"status_regex", "optout_keywords"}


def test_migrations_match_the_models(db):
    call_command("makemigrations", "quarantine", "--check", "--dry-run", verbosity=0)
