"""The management commands a platform operator scripts, and the demo seed."""

from io import StringIO

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django_q.models import Schedule

from mktops import schedules, services
from mktops.models import ApiKey, Contact, Event, Membership, Role, SentEvent, SentMessage, Tenant
from mktops.services import ERR_CSM_HAS_NO_TENANT, ERR_ROLE_NEEDS_TENANT
from tests.conftest import make_event

PASSWORD = "a-long-enough-password-42"


def run(*args, **kwargs) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


# --- create_tenant -------------------------------------------------------------
def test_create_tenant(db):
    out, _ = run("create_tenant", "acme-eu", "Acme Europe")
    tenant = Tenant.objects.get(slug="acme-eu")
    assert (tenant.name, tenant.db_name, tenant.app_name) == ("Acme Europe", "acme_eu", "Acme Europe")
    assert "Created tenant acme-eu" in out


def test_create_tenant_with_a_workspace_name(db):
    run("create_tenant", "acme", "Acme", "--db-name", "ACME_PROD", "--app-name", "Acme Shop")
    assert Tenant.objects.filter(slug="acme", db_name="ACME_PROD", app_name="Acme Shop").exists()


def test_create_tenant_refuses_a_taken_slug(tenant_a):
    with pytest.raises(CommandError, match="already exists"):
        run("create_tenant", "tenant-a", "Again")


@pytest.mark.parametrize("slug, db_name, message", [
    ("Bad Slug", None, "slug"), ("edge-", None, "slug"), ("ok", "has/slash", "db_name")])
def test_create_tenant_names_the_bad_field(db, slug, db_name, message):
    args = ["create_tenant", slug, "Name"] + (["--db-name", db_name] if db_name else [])
    with pytest.raises(CommandError, match=message):
        run(*args)
    assert not Tenant.objects.exists()


# --- create_user --------------------------------------------------------------------
@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv("MKTOPS_USER_PASSWORD", PASSWORD)


@pytest.mark.parametrize("role", ["operator", "support"])
def test_create_tenant_user(tenant_a, password_env, role):
    out, _ = run("create_user", "ann", "--role", role, "--tenant", "tenant-a", "--email", "ann@example.com")
    user = get_user_model().objects.get(username="ann")
    assert user.is_staff and not user.is_superuser and user.email == "ann@example.com"
    assert list(Membership.objects.filter(user=user).values_list("tenant__slug", "role")) == [("tenant-a", role)]
    assert f"User ann: {role} of tenant-a." in out
    assert Client().login(username="ann", password=PASSWORD)


def test_create_csm(db, password_env):
    run("create_user", "carl", "--role", "csm")
    assert list(Membership.objects.filter(user__username="carl").values_list("tenant", "role")) == [(None, "csm")]


@pytest.mark.parametrize("args, message", [
    (["--role", "operator"], ERR_ROLE_NEEDS_TENANT),
    (["--role", "support"], ERR_ROLE_NEEDS_TENANT),
    (["--role", "csm", "--tenant", "tenant-a"], ERR_CSM_HAS_NO_TENANT),
    (["--role", "operator", "--tenant", "nope"], "No tenant with slug 'nope'"),
    (["--role", "admin", "--tenant", "tenant-a"], "invalid choice: 'admin'"),
])
def test_create_user_refuses_bad_role_and_tenant_combinations(tenant_a, password_env, args, message):
    with pytest.raises(CommandError, match=message):
        run("create_user", "ann", *args)
    assert not get_user_model().objects.filter(username="ann").exists()


def test_create_user_needs_a_password_from_the_environment_or_a_terminal(tenant_a, monkeypatch):
    monkeypatch.delenv("MKTOPS_USER_PASSWORD", raising=False)
    with pytest.raises(CommandError, match="MKTOPS_USER_PASSWORD"):
        run("create_user", "ann", "--role", "operator", "--tenant", "tenant-a")


@pytest.mark.parametrize("password", ["short", "password123", "12345678901"])
def test_create_user_refuses_weak_passwords(tenant_a, monkeypatch, password):
    monkeypatch.setenv("MKTOPS_USER_PASSWORD", password)
    with pytest.raises(CommandError):
        run("create_user", "ann", "--role", "operator", "--tenant", "tenant-a")
    assert not get_user_model().objects.filter(username="ann").exists()


def test_create_user_again_adds_a_tenant_and_csm_replaces_tenant_roles(tenant_a, tenant_b, password_env):
    run("create_user", "ann", "--role", "operator", "--tenant", "tenant-a")
    run("create_user", "ann", "--role", "support", "--tenant", "tenant-b")
    roles = set(Membership.objects.filter(user__username="ann").values_list("tenant__slug", "role"))
    assert roles == {("tenant-a", "operator"), ("tenant-b", "support")}
    run("create_user", "ann", "--role", "csm")
    assert list(Membership.objects.filter(user__username="ann").values_list("tenant", "role")) == [(None, "csm")]
    run("create_user", "ann", "--role", "operator", "--tenant", "tenant-a")
    assert list(Membership.objects.filter(user__username="ann").values_list("tenant__slug", "role")) == [
        ("tenant-a", "operator")]


def test_user_create_service_rejects_an_unknown_role(tenant_a):
    with pytest.raises(ValidationError) as caught:
        services.user_create(username="x", password=PASSWORD, role="owner", tenant=tenant_a)
    assert caught.value.message_dict == {"role": [services.ERR_UNKNOWN_ROLE]}


# --- create_api_key -----------------------------------------------------------------------
def test_create_api_key_prints_the_key_once_and_it_works(tenant_a):
    out, err = run("create_api_key", "tenant-a", "--name", "platform")
    raw = out.strip()
    assert raw.startswith(ApiKey.PREFIX) and "\n" not in raw
    assert "shown once" in err and raw not in err
    key = ApiKey.objects.get(tenant=tenant_a, name="platform")
    assert key.key_hash == ApiKey.hash(raw)
    response = Client().post("/api/v1/events", data=orjson.dumps({"events": [make_event(1)]}),
                             content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["accepted"] == 1


def test_create_api_key_for_an_unknown_tenant(db):
    with pytest.raises(CommandError, match="No tenant with slug 'ghost'"):
        run("create_api_key", "ghost")


# --- seed_demo --------------------------------------------------------------------------------
def _counts():
    return {model.__name__: model.objects.count() for model in
            (Tenant, Contact, Event, SentMessage, ApiKey, Membership, get_user_model())}


def test_seed_demo_is_idempotent(db):
    out, _ = run("seed_demo", "--contacts", "15", "--events", "120")
    first = _counts()
    assert first["Tenant"] == 1 and first["Event"] == 120 and 0 < first["Contact"] <= 15
    assert first["SentMessage"] > 0 and first["ApiKey"] == 1 and first["Membership"] == 3
    assert "events 120/120" in out  # progress
    assert "mktops-demo-2026" in out

    out, _ = run("seed_demo", "--contacts", "15", "--events", "120")
    assert _counts() == first
    assert "(new 0, already there 120)" in out


def test_seed_demo_prints_working_credentials(db):
    out, _ = run("seed_demo", "--contacts", "5", "--events", "20")
    raw = next(line.split(": ", 1)[1] for line in out.splitlines() if "API key of tenant demo" in line).strip()
    assert services.api_key_authenticate(raw).tenant.slug == "demo"
    for username, role in (("demo-operator", Role.OPERATOR), ("demo-support", Role.SUPPORT), ("demo-csm", Role.CSM)):
        assert Client().login(username=username, password="mktops-demo-2026")
        assert Membership.objects.get(user__username=username).role == role


def test_seeded_sent_events_carry_messages_of_every_channel(db):
    run("seed_demo", "--contacts", "10", "--events", "300")
    names = set(Event.objects.filter(message__isnull=False).values_list("event_name", flat=True))
    assert names == {"Email Sent", "SMS Sent", "Notification Received Android", "Notification Sent iOS",
                     "Notification Received Web"}


def test_seeded_push_messages_go_to_the_contacts_own_device(db):
    run("seed_demo", "--contacts", "10", "--events", "300")
    push = {name: platform.upper() for name, (_, platform) in SentEvent.CHANNELS.items() if platform}
    pushed = Event.objects.filter(event_name__in=push).prefetch_related("contact__devices")
    assert pushed.exists()
    for event in pushed:
        devices = [(d.platform, d.push_token) for d in event.contact.devices.all()]
        assert devices == [(push[event.event_name], event.push_id)], (event.event_name, devices)


# --- setup_schedules ----------------------------------------------------------------------------
def test_setup_schedules_is_idempotent(db):
    out, _ = run("setup_schedules")
    names = {job.name for job in schedules.registered()}
    assert set(Schedule.objects.values_list("name", flat=True)) == names
    assert "schedule mktops.purge_expired_events" in out
    purge = Schedule.objects.get(name="mktops.purge_expired_events")
    assert (purge.func, purge.schedule_type, purge.repeats) == ("mktops.tasks.purge_expired_events",
                                                                 Schedule.MINUTES, -1)
    run("setup_schedules")
    assert Schedule.objects.count() == len(names)
