"""System checks for dangerous setting combinations; ids are stable."""

from django.conf import settings
from django.core.checks import Error, Tags, Warning, register

from mktops.env import dev_field_key


@register()
def check_q_cluster(app_configs, **kwargs):
    errors = []
    q = settings.Q_CLUSTER
    if q.get("timeout") is not None and q.get("retry") is not None and q["timeout"] >= q["retry"]:
        errors.append(Error(
            f"Q_CLUSTER timeout ({q['timeout']}s) is not below retry ({q['retry']}s): a task "
            "still running would be handed to a second worker and run twice.",
            hint="Set Q_TIMEOUT below Q_RETRY.",
            id="mktops.E001",
        ))
    engine = settings.DATABASES["default"]["ENGINE"]
    if "orm" in q and "redis" in q:
        errors.append(Error("Q_CLUSTER names two brokers.", id="mktops.E002"))
    if engine.endswith("sqlite3") and q.get("workers", 1) > 4:
        errors.append(Warning(
            "More than 4 django-q2 workers on SQLite will mostly wait on the database lock.",
            id="mktops.W001",
        ))
    return errors


@register(deploy=True)
def check_deploy(app_configs, **kwargs):
    errors = []
    if settings.MKTOPS_ALLOW_PRIVATE_TARGETS and not settings.DEBUG:
        errors.append(Warning(
            "MKTOPS_ALLOW_PRIVATE_TARGETS is on: tenants can point SFTP hosts, webhooks and provider "
            "URLs at loopback and private addresses of this network.",
            id="mktops.W002",
        ))
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        errors.append(Warning(
            "The database is SQLite: use PostgreSQL (DATABASE_URL) to run more than one machine.",
            id="mktops.W003",
        ))
    if dev_field_key(settings.SECRET_KEY) in settings.MKTOPS_FIELD_KEYS:
        errors.append(Error(
            "MKTOPS_FIELD_KEYS holds the development key derived from SECRET_KEY: anyone who "
            "learns SECRET_KEY can read every secret at rest.",
            hint="Generate a key with Fernet.generate_key() and rotate with manage.py rotate_field_keys.",
            id="mktops.E003",
        ))
    if not settings.MKTOPS_ARCHIVE_BUCKET:
        errors.append(Warning(
            "MKTOPS_ARCHIVE_BUCKET is not set: archived messages go to a local folder that only "
            "this machine sees.",
            hint="Set MKTOPS_ARCHIVE_BUCKET (and the AWS_* settings) to the platform's archive bucket.",
            id="mktops.W004",
        ))
    return errors


# a database check (run by `migrate` and `check --database default`): a Warning, not an Error,
# so `migrate`, which installs the schedules after it, is not stopped by it
@register(Tags.database)
def check_schedules(app_configs, databases=None, **kwargs):
    from mktops import schedules

    if not databases or "default" not in databases or not schedules.installable():
        return []
    missing = schedules.not_installed()
    if not missing:
        return []
    return [Warning(
        f"Periodic jobs not scheduled as the apps register them: {', '.join(missing)}. Without them "
        "nothing is exported, swept or purged.",
        hint="Run manage.py migrate or manage.py setup_schedules.",
        id="mktops.W005",
    )]
