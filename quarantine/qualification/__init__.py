"""The qualification tables shipped as data (email.json, apns.json, fcm.json, smpp.json).

`install_shipped` copies the shipped email and push rules into their tables (post_migrate and
`manage.py quarantine_load_rules`): a rule is added when its key is missing and never
overwritten, so what a CSM changed stays as they left it."""

import json
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent


@cache
def load(name: str) -> dict:
    return json.loads((HERE / f"{name}.json").read_text(encoding="utf-8"))


def smpp() -> dict:
    return load("smpp")


def install_shipped(*, using: str = "default") -> int:
    """Adds the shipped rules that are missing; returns how many were added."""
    from quarantine.models import EmailQualificationRule, PushQualificationRule

    added = 0
    for rule in load("email")["rules"]:
        _, created = EmailQualificationRule.objects.using(using).get_or_create(
            key=rule["key"], defaults={**{k: v for k, v in rule.items() if k != "key"}, "shipped": True})
        added += created
    for provider in ("apns", "fcm"):
        for rule in load(provider)["rules"]:
            _, created = PushQualificationRule.objects.using(using).get_or_create(
                provider=provider, code=rule["code"],
                defaults={**{k: v for k, v in rule.items() if k != "code"}, "shipped": True})
            added += created
    return added


def install_after_migrate(sender, using="default", **kwargs) -> None:
    """post_migrate receiver for this app: its tables exist once its migrations ran."""
    from django.db import connections

    from quarantine.models import EmailQualificationRule

    if EmailQualificationRule._meta.db_table in connections[using].introspection.table_names():
        install_shipped(using=using)
