"""Loaded with `-p tests.pytest_env` (pyproject addopts) before Django's settings are read:
the environment the test suite runs in. A variable already set (DATABASE_URL,
REDIS_URL from .ci/run) wins."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mktops.settings")
for name, value in {
    "DEBUG": "0",
    "SECRET_KEY": "test-secret-key-not-for-production-0123456789abcdefghijklmnop",
    # two keys, so rotation is exercised: the first encrypts, both decrypt
    "MKTOPS_FIELD_KEYS": "q1R0bVwE7dAm6m0c9oWJ8sJq1m2nJ4y6fQyb0c9S3JI=,Zs0gTQW2xk9D3pQpWm3W4kR4b1n6D0uHq1y0H2x7m9s=",
    "ALLOWED_HOSTS": "testserver,localhost,127.0.0.1",
    "MKTOPS_ALLOW_PRIVATE_TARGETS": "1",
    "SECURE_SSL_REDIRECT": "0",
    "SESSION_COOKIE_SECURE": "0",
    "CSRF_COOKIE_SECURE": "0",
    "SECURE_HSTS_SECONDS": "0",
    "MKTOPS_ARCHIVE_BUCKET": "",
    "LOG_LEVEL": "WARNING",
    # no collectstatic before tests: serve admin assets from the apps
    "MKTOPS_STATIC_MANIFEST": "0",
}.items():
    os.environ.setdefault(name, value)
