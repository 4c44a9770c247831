"""Shared fixtures: named personas per role, tenants, an authenticated API client.

Server fixtures (S3, SFTP, gpg, HTTP receiver, browser) live in tests/fixtures/
and are registered here as plugins, so every test folder can use them.
"""

import pytest
from django.test import Client

from mktops import services
from mktops.models import Role

pytest_plugins = [
    "tests.fixtures.servers",
    "tests.fixtures.browser",
    "tests.fixtures.dns",
    "tests.fixtures.platforms",
    "tests.fixtures.s3_errors",
]

PASSWORD = "persona-password-123"


@pytest.fixture(scope="session")
def django_db_modify_db_settings(tmp_path_factory):
    """SQLite's test database in a file, not in memory: in memory, threads (the live
    server, concurrent ingest tests) share one cache and fail with "table is locked"
    instead of waiting on the busy timeout the way the real file database does."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"].endswith("sqlite3"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("db") / "test.sqlite3")


@pytest.fixture(scope="session", autouse=True)
def _fast_password_hasher():
    """Personas' passwords hashed with MD5 in tests only: Django's PBKDF2 took about a
    quarter of the suite's time, and no test is about the hash's strength."""
    from django.conf import settings
    from django.contrib.auth.hashers import get_hashers, get_hashers_by_algorithm

    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    get_hashers.cache_clear()
    get_hashers_by_algorithm.cache_clear()


@pytest.fixture(autouse=True)
def _forget_known_catalogue_names():
    """Each test starts with ingestion's memory of catalogue names empty: on SQLite a
    tenant can get the id of a tenant that an earlier test created and rolled back."""
    yield
    from mktops.ingest import forget_known_names

    forget_known_names()


@pytest.fixture
def tenant_a(db):
    return services.tenant_create(slug="tenant-a", name="Tenant A", db_name="tenant_a")


@pytest.fixture
def tenant_b(db):
    return services.tenant_create(slug="tenant-b", name="Tenant B", db_name="tenant_b")


def _persona(username, role, tenant):
    return services.user_create(username=username, password=PASSWORD, role=role, tenant=tenant)


@pytest.fixture
def operator_a(tenant_a):
    """Alice operates tenant A."""
    return _persona("alice-operator-a", Role.OPERATOR, tenant_a)


@pytest.fixture
def support_a(tenant_a):
    """Sam is customer support of tenant A: views, never changes, never sees a secret."""
    return _persona("sam-support-a", Role.SUPPORT, tenant_a)


@pytest.fixture
def operator_b(tenant_b):
    """Bob operates tenant B and must never see tenant A."""
    return _persona("bob-operator-b", Role.OPERATOR, tenant_b)


@pytest.fixture
def csm(db):
    """Carla is platform staff: every tenant, entitlements, repairs."""
    return _persona("carla-csm", Role.CSM, None)


def _client_for(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def as_operator_a(operator_a):
    return _client_for(operator_a)


@pytest.fixture
def as_support_a(support_a):
    return _client_for(support_a)


@pytest.fixture
def as_operator_b(operator_b):
    return _client_for(operator_b)


@pytest.fixture
def as_csm(csm):
    return _client_for(csm)


@pytest.fixture
def api_key_a(tenant_a):
    _, raw = services.api_key_create(tenant=tenant_a, name="test")
    return raw


@pytest.fixture
def api(api_key_a):
    """POST JSON to the ingestion API as tenant A."""
    client = Client()

    def post(path, payload=None, *, raw: bytes | None = None, key: str | None = api_key_a, **extra):
        import orjson

        body = raw if raw is not None else orjson.dumps(payload)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {key}"} if key else {}
        return client.post(f"/api/v1{path}", data=body, content_type="application/json", **headers, **extra)

    return post


def make_event(i: int = 0, **overrides) -> dict:
    event = {
        "uid": f"user-{i}",
        "event_code": "PURCHASE",
        "event_name": "Purchase",
        "event_uuid": f"uuid-{i}",
        "event_time": 1_790_000_000 + i,
    }
    event.update(overrides)
    return event


def email_sent_event(i: int = 0, **overrides) -> dict:
    event = make_event(
        i,
        event_name="Email Sent",
        event_code="MOE_EMAIL_SENT",
        event_type="CAMPAIGN_EVENT",
        email_id=f"user{i}@example.com",
        event_attributes={"campaign_id": f"cmp-{i % 3}"},
        message={
            "from": "Acme <news@acme.example>",
            "to": f"user{i}@example.com",
            "subject": f"Hello {i}",
            "text": f"Plain body {i}",
            "html": f"<p>HTML body {i}</p>",
            "headers": {},
            "attachments": [],
        },
    )
    event.update(overrides)
    return event


@pytest.fixture
def clock():
    """Move mktops' clock forward: clock.advance(timedelta(hours=1))."""
    from mktops import clock as mk_clock

    mk_clock.reset()
    yield mk_clock
    mk_clock.reset()
