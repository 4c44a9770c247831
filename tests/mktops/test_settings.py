"""Settings read from the environment: strict parsers, start-up refusals, system checks."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.core.checks import run_checks
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings

from mktops import env
from mktops.checks import check_deploy, check_q_cluster

ROOT = Path(__file__).resolve().parents[2]


# --- the parsers ------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [("1", True), ("true", True), (" YES ", True), ("on", True),
                                           ("0", False), ("False", False), ("no", False), ("off", False),
                                           ("", False)])
def test_env_bool_accepts_the_documented_spellings(monkeypatch, raw, expected):
    monkeypatch.setenv("MKTOPS_TEST_FLAG", raw)
    assert env.env_bool("MKTOPS_TEST_FLAG", not expected) is expected


def test_env_bool_default_when_unset(monkeypatch):
    monkeypatch.delenv("MKTOPS_TEST_FLAG", raising=False)
    assert env.env_bool("MKTOPS_TEST_FLAG", True) is True


@pytest.mark.parametrize("raw", ["maybe", "2", "tru", "y e s"])
def test_env_bool_refuses_anything_else_naming_the_variable(monkeypatch, raw):
    monkeypatch.setenv("MKTOPS_TEST_FLAG", raw)
    with pytest.raises(ImproperlyConfigured, match=r"MKTOPS_TEST_FLAG=.* is not a boolean"):
        env.env_bool("MKTOPS_TEST_FLAG", False)


def test_env_int(monkeypatch):
    monkeypatch.setenv("MKTOPS_TEST_INT", " 42 ")
    assert env.env_int("MKTOPS_TEST_INT", 1) == 42
    monkeypatch.setenv("MKTOPS_TEST_INT", "")
    assert env.env_int("MKTOPS_TEST_INT", 7) == 7


@pytest.mark.parametrize("raw, message", [("ten", "is not a whole number"), ("1.5", "is not a whole number"),
                                          ("0", "must be at least 1")])
def test_env_int_refuses_bad_values_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("MKTOPS_TEST_INT", raw)
    with pytest.raises(ImproperlyConfigured, match=f"MKTOPS_TEST_INT.*{message}"):
        env.env_int("MKTOPS_TEST_INT", 5, minimum=1)


def test_env_list_splits_and_trims(monkeypatch):
    monkeypatch.setenv("MKTOPS_TEST_LIST", " a.example , b.example,,")
    assert env.env_list("MKTOPS_TEST_LIST") == ["a.example", "b.example"]


@pytest.mark.parametrize("raw", ["https://s3.example.com", "http://127.0.0.1:9000"])
def test_env_url_accepts_urls(monkeypatch, raw):
    monkeypatch.setenv("MKTOPS_TEST_URL", raw)
    assert env.env_url("MKTOPS_TEST_URL") == raw


@pytest.mark.parametrize("raw, message", [
    ("s3.example.com", "must be a URL with scheme http or https"),
    ("ftp://s3.example.com", "must be a URL with scheme"),
    ("http://host:port", "is not a valid URL"),
    ("http://", "has no host"),
])
def test_env_url_refuses_bad_urls_naming_the_variable(monkeypatch, raw, message):
    monkeypatch.setenv("MKTOPS_TEST_URL", raw)
    with pytest.raises(ImproperlyConfigured, match=f"MKTOPS_TEST_URL=.*{message}"):
        env.env_url("MKTOPS_TEST_URL")


def test_redis_url_over_a_unix_socket_needs_no_host(monkeypatch):
    monkeypatch.setenv("MKTOPS_TEST_URL", "unix:///run/redis/redis.sock")
    assert env.env_url("MKTOPS_TEST_URL", schemes=("redis", "rediss", "unix")).startswith("unix://")


def test_url_lists_are_checked_item_by_item(monkeypatch):
    monkeypatch.setenv("MKTOPS_TEST_URLS", "https://ok.example,console.example")
    with pytest.raises(ImproperlyConfigured, match="MKTOPS_TEST_URLS='console.example'"):
        env.env_url_list("MKTOPS_TEST_URLS")


def test_fernet_keys_must_be_keys(monkeypatch):
    good = Fernet.generate_key().decode()
    monkeypatch.setenv("MKTOPS_TEST_KEYS", f"{good}, not-a-key")
    with pytest.raises(ImproperlyConfigured, match="MKTOPS_TEST_KEYS: key 2 is not a Fernet key"):
        env.env_fernet_keys("MKTOPS_TEST_KEYS")
    monkeypatch.setenv("MKTOPS_TEST_KEYS", good)
    assert env.env_fernet_keys("MKTOPS_TEST_KEYS") == [good]


def test_env_choice(monkeypatch):
    monkeypatch.setenv("MKTOPS_TEST_LEVEL", "warning")
    assert env.env_choice("MKTOPS_TEST_LEVEL", "INFO", ("INFO", "WARNING")) == "WARNING"
    monkeypatch.setenv("MKTOPS_TEST_LEVEL", "loud")
    with pytest.raises(ImproperlyConfigured, match="MKTOPS_TEST_LEVEL='LOUD' must be one of"):
        env.env_choice("MKTOPS_TEST_LEVEL", "INFO", ("INFO", "WARNING"))


# --- the checks, in process -------------------------------------------------
def _ids(messages):
    return {m.id for m in messages}


def test_e001_fires_when_timeout_is_not_below_retry(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 360, "retry": 360}
    assert "mktops.E001" in _ids(check_q_cluster(None))
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "timeout": 300, "retry": 360}
    assert "mktops.E001" not in _ids(check_q_cluster(None))


def test_e002_fires_for_two_brokers(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "orm": "default", "redis": "redis://127.0.0.1:6379/0"}
    assert "mktops.E002" in _ids(check_q_cluster(None))


def test_w001_many_workers_on_sqlite(settings):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "workers": 8}
    sqlite = settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
    assert ("mktops.W001" in _ids(check_q_cluster(None))) is sqlite


def test_deploy_checks(settings):
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = True
    settings.MKTOPS_ARCHIVE_BUCKET = ""
    ids = _ids(check_deploy(None))
    assert {"mktops.W002", "mktops.W004"} <= ids
    settings.MKTOPS_ALLOW_PRIVATE_TARGETS = False
    settings.MKTOPS_ARCHIVE_BUCKET = "platform-archive"
    assert not _ids(check_deploy(None)) & {"mktops.W002", "mktops.W004"}


def test_e003_refuses_the_development_field_key(settings):
    settings.MKTOPS_FIELD_KEYS = [env.dev_field_key(settings.SECRET_KEY)]
    assert "mktops.E003" in _ids(check_deploy(None))


@override_settings(DEBUG=False)
def test_the_test_configuration_passes_the_ordinary_checks():
    assert [m for m in run_checks() if m.is_serious()] == []


# --- start-up, in a fresh interpreter -----------------------------------------
def _production_env(**overrides) -> dict:
    environ = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/tmp"),
        "DJANGO_SETTINGS_MODULE": "mktops.settings",
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "MKTOPS_FIELD_KEYS": f"{Fernet.generate_key().decode()},{Fernet.generate_key().decode()}",
        "ALLOWED_HOSTS": "console.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://console.example.com",
        "DATABASE_URL": "postgres://mktops:pw@db.internal:5432/mktops",
        "REDIS_URL": "redis://redis.internal:6379/0",
        "MKTOPS_ARCHIVE_BUCKET": "mktops-platform-archive",
        "AWS_S3_REGION_NAME": "eu-west-1",
    }
    environ.update(overrides)
    return {k: v for k, v in environ.items() if v is not None}


def _run(args, environ):
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=environ, capture_output=True, text=True,
                          timeout=120)


def _setup(environ):
    return _run(["-c", "import django; django.setup(); print('started')"], environ)


def test_production_configuration_starts():
    result = _setup(_production_env())
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


def test_refuses_to_start_without_secret_key_when_debug_is_off():
    result = _setup(_production_env(SECRET_KEY=None))
    assert result.returncode != 0
    assert "ImproperlyConfigured: SECRET_KEY is not set" in result.stderr


def test_debug_without_secret_key_uses_the_development_key():
    result = _run(["-c", "import django; django.setup(); from django.conf import settings; "
                   "print(settings.SECRET_KEY.startswith('django-insecure'))"],
                  _production_env(SECRET_KEY=None, DEBUG="1", MKTOPS_FIELD_KEYS=None))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "True"


def test_refuses_to_start_without_field_keys_when_debug_is_off():
    result = _setup(_production_env(MKTOPS_FIELD_KEYS=None))
    assert result.returncode != 0
    assert "MKTOPS_FIELD_KEYS is not set" in result.stderr


@pytest.mark.parametrize("name, value, message", [
    ("DEBUG", "maybe", "DEBUG='maybe' is not a boolean"),
    ("MKTOPS_ALLOW_PRIVATE_TARGETS", "sometimes", "MKTOPS_ALLOW_PRIVATE_TARGETS='sometimes' is not a boolean"),
    ("DATABASE_URL", "mysql://db/mktops", "only sqlite:// and postgres:// are supported"),
    ("DATABASE_URL", "postgres://h:port/db", "DATABASE_URL='postgres://h:port/db' is not usable"),
    ("REDIS_URL", "localhost:6379", "REDIS_URL='localhost:6379' must be a URL with scheme"),
    ("AWS_S3_ENDPOINT_URL", "minio:9000", "AWS_S3_ENDPOINT_URL='minio:9000' must be a URL"),
    ("Q_WORKERS", "two", "Q_WORKERS='two' is not a whole number"),
    ("MKTOPS_API_MAX_EVENTS", "0", "MKTOPS_API_MAX_EVENTS=0 must be at least 1"),
    ("MKTOPS_FIELD_KEYS", "secret", "MKTOPS_FIELD_KEYS: key 1 is not a Fernet key"),
    ("MKTOPS_PLATFORM_PRINCIPALS", "platform-role", "is not an ARN"),
    ("CSRF_TRUSTED_ORIGINS", "console.example.com", "CSRF_TRUSTED_ORIGINS='console.example.com'"),
    ("LOG_LEVEL", "chatty", "LOG_LEVEL='CHATTY' must be one of"),
])
def test_a_bad_value_fails_at_start_up_naming_the_variable(name, value, message):
    result = _setup(_production_env(**{name: value}))
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr


def test_redis_url_selects_the_redis_broker():
    code = ("import django; django.setup(); from django.conf import settings; "
            "print(settings.Q_CLUSTER.get('redis'), settings.Q_CLUSTER.get('orm'))")
    result = _run(["-c", code], _production_env())
    assert result.stdout.split() == ["redis://redis.internal:6379/0", "None"]
    result = _run(["-c", code], _production_env(REDIS_URL=None))
    assert result.stdout.split() == ["None", "default"]


def test_check_reports_e001_when_q_timeout_is_not_below_q_retry():
    result = _run(["manage.py", "check"], _production_env(Q_TIMEOUT="400", Q_RETRY="300"))
    assert result.returncode != 0
    assert "mktops.E001" in result.stderr


def test_check_deploy_is_clean_with_a_production_configuration():
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], _production_env())
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout


def test_check_deploy_warns_about_a_development_shortcut():
    result = _run(["manage.py", "check", "--deploy"],
                  _production_env(MKTOPS_ALLOW_PRIVATE_TARGETS="1", SECURE_HSTS_SECONDS="0"))
    assert "mktops.W002" in result.stderr
    assert "security.W004" in result.stderr
