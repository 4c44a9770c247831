"""The one settings module, configured from the environment.

Every variable has a working local default; the README lists them all.
"""

import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from mktops.env import (
    dev_field_key,
    env_bool,
    env_choice,
    env_fernet_keys,
    env_int,
    env_list,
    env_str,
    env_url,
    env_url_list,
)
from mktops.sqlite import SQLITE_PRAGMAS
from mktops.storage import archive_storage

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", False)

_DEV_SECRET_KEY = "django-insecure-mktops-development-only-key-do-not-use-in-production"  # noqa: S105 - refused unless DEBUG
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set it, or set DEBUG=1 to use the development key."
        )
    SECRET_KEY = _DEV_SECRET_KEY

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env_url_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "mktops.apps.MktopsAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_q",
    "ninja",
    "axes",
    "mktops.apps.MktopsConfig",
    "archive",
    "exports",
    "channels",
    "quarantine",
    "webhooks",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # last, as django-axes asks: it turns a refused sign-in into the lockout page
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "mktops.urls"
WSGI_APPLICATION = "mktops.wsgi.application"
ASGI_APPLICATION = "mktops.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- database -------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{BASE_DIR / 'mktops.sqlite3'}")
try:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
                               conn_health_checks=True)
except ValueError as exc:
    raise ImproperlyConfigured(f"DATABASE_URL={DATABASE_URL!r} is not usable: {exc}") from None
if _db["ENGINE"] not in ("django.db.backends.sqlite3", "django.db.backends.postgresql"):
    raise ImproperlyConfigured(
        f"DATABASE_URL={DATABASE_URL!r}: only sqlite:// and postgres:// are supported."
    )
if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the web process and the qcluster share the
    # file; SQLITE_PRAGMAS (mktops/sqlite.py) says why each of the others is set.
    _db["OPTIONS"] = {
        "timeout": 20,
        "init_command": " ".join(f"PRAGMA {pragma};" for pragma in SQLITE_PRAGMAS),
        "transaction_mode": "IMMEDIATE",
    }
DATABASES = {"default": _db}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- django-q2 ------------------------------------------------------------
REDIS_URL = env_url("REDIS_URL", schemes=("redis", "rediss", "unix"))
# a django-q2 worker writes its heartbeat this often; one silent for four beats is taken for dead and
# the rows it held are handed out again (mktops.jobs)
MKTOPS_WORKER_HEARTBEAT_SECONDS = env_int("MKTOPS_WORKER_HEARTBEAT_SECONDS", 10, minimum=1)
Q_CLUSTER = {
    "name": "mktops",
    "workers": env_int("Q_WORKERS", 2, minimum=1),
    # timeout must stay below retry (system check mktops.E001): a task still
    # running at `retry` would be handed to a second worker.
    "timeout": env_int("Q_TIMEOUT", 300, minimum=1),
    "retry": env_int("Q_RETRY", 360, minimum=2),
    "max_attempts": 3,
    # our rows own the business state; a missed schedule slot is picked up by
    # the next sweep, so replaying every missed slot would only add load.
    "catch_up": False,
    "ack_failures": True,
    "save_limit": 1000,
    "label": "Background tasks",
}
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# --- auth, i18n, static ---------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "admin:login"

# --- sign-in throttling (django-axes; mktops/throttle.py) -------------------
# The throttle backend goes first: it refuses a locked address or account
# before a password is checked, so the right password does not get in either.
AUTHENTICATION_BACKENDS = [
    "mktops.throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Failures are counted per client address (any username) and per username
# (any address), each with its own limit (LoginThrottleHandler):
# - the address limit is low: one client guessing, or trying one password on
#   many accounts, is stopped after a few tries without touching anyone else;
# - the username limit is higher: it stops guessing one account from many
#   addresses (a botnet, or an IPv6 /64 rotated through, see
#   throttle.client_address), while a stranger needs that many tries to lock a
#   real operator out, who a CSM can then unlock at once.
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5, minimum=1)
MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT = env_int("MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT", 20, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15, minimum=1))
# tries while locked are refused and not counted, so the lock ends when the
# page said it would, however often the real user retries
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
# a success does not wipe the address's failures: otherwise an attacker with
# one working account of their own could sign in between guesses
AXES_RESET_ON_SUCCESS = False
# one table shared by every web process, on SQLite and PostgreSQL alike
AXES_HANDLER = "mktops.throttle.LoginThrottleHandler"
AXES_LOCKOUT_CALLABLE = "mktops.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "mktops.throttle.client_address"
# our own CSM-only admin pages (mktops/admin.py) instead of axes' open ones
AXES_ENABLE_ADMIN = False
AXES_VERBOSE = False
# axes logs every sign-in (AccessLog) and every failure (AccessFailureLog) and never
# deletes them; the hourly purge keeps this many days (mktops.throttle.signin_logs_prune)
MKTOPS_SIGNIN_LOG_DAYS = env_int("MKTOPS_SIGNIN_LOG_DAYS", 90, minimum=1)
# Behind a reverse proxy every request comes from the proxy's address: name the
# header it sets (X-Forwarded-For) and how many proxies append to it. Unset, the
# header is ignored, since a client can write it itself.
MKTOPS_CLIENT_IP_HEADER = env_str("MKTOPS_CLIENT_IP_HEADER")
if MKTOPS_CLIENT_IP_HEADER and not re.fullmatch(r"[A-Za-z0-9-]+", MKTOPS_CLIENT_IP_HEADER):
    raise ImproperlyConfigured(
        f"MKTOPS_CLIENT_IP_HEADER={MKTOPS_CLIENT_IP_HEADER!r} is not a header name (letters, digits, hyphens)."
    )
MKTOPS_TRUSTED_PROXY_COUNT = env_int("MKTOPS_TRUSTED_PROXY_COUNT", 1, minimum=1)
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if env_bool("MKTOPS_STATIC_MANIFEST", not DEBUG)
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or not env_bool("MKTOPS_STATIC_MANIFEST", not DEBUG)

# --- security (production defaults; DEBUG relaxes them for local use) -----
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# load balancers probe over plain HTTP; a redirect would read as "down"
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
# no page of ours is framed; a view that must be (a sandboxed message preview)
# opts in with django.views.decorators.clickjacking.xframe_options_sameorigin
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True

# --- field encryption -----------------------------------------------------
MKTOPS_FIELD_KEYS = env_fernet_keys("MKTOPS_FIELD_KEYS")
if not MKTOPS_FIELD_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "MKTOPS_FIELD_KEYS is not set: give one or more Fernet keys, newest first "
            "(python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')."
        )
    MKTOPS_FIELD_KEYS = [dev_field_key(SECRET_KEY)]

# --- S3 -------------------------------------------------------------------
AWS_S3_ENDPOINT_URL = env_url("AWS_S3_ENDPOINT_URL")
AWS_S3_REGION_NAME = env_str("AWS_S3_REGION_NAME", "us-east-1")
AWS_ACCESS_KEY_ID = env_str("AWS_ACCESS_KEY_ID")
AWS_SECRET_ACCESS_KEY = env_str("AWS_SECRET_ACCESS_KEY")
MKTOPS_ARCHIVE_BUCKET = env_str("MKTOPS_ARCHIVE_BUCKET")
MKTOPS_LOCAL_ARCHIVE_DIR = Path(env_str("MKTOPS_LOCAL_ARCHIVE_DIR", str(BASE_DIR / "var" / "archive")))
# the platform's own archive store: django-storages' S3Storage on the platform bucket, or the
# local folder standing in for it (archive.services.destinations reads storages["archive"])
STORAGES["archive"] = archive_storage(
    bucket=MKTOPS_ARCHIVE_BUCKET, local_dir=MKTOPS_LOCAL_ARCHIVE_DIR, region=AWS_S3_REGION_NAME,
    endpoint_url=AWS_S3_ENDPOINT_URL, access_key_id=AWS_ACCESS_KEY_ID, secret_access_key=AWS_SECRET_ACCESS_KEY,
)
MKTOPS_PLATFORM_PRINCIPALS = env_list(
    "MKTOPS_PLATFORM_PRINCIPALS", ["arn:aws:iam::000000000000:role/mktops-platform"]
)
# with it set, the platform reaches each tenant's bucket as this role, assumed per tenant with the
# tenant's external id as the session tag the bucket policies shown require (README: tenant buckets on AWS)
MKTOPS_PLATFORM_ROLE_ARN = env_str("MKTOPS_PLATFORM_ROLE_ARN")
if MKTOPS_PLATFORM_ROLE_ARN and not MKTOPS_PLATFORM_ROLE_ARN.startswith("arn:"):
    raise ImproperlyConfigured(f"MKTOPS_PLATFORM_ROLE_ARN: {MKTOPS_PLATFORM_ROLE_ARN!r} is not an ARN.")
AWS_STS_ENDPOINT_URL = env_url("AWS_STS_ENDPOINT_URL")
# the platform's other buckets (backups, logs, …): like the archive bucket, never a tenant's destination
MKTOPS_RESERVED_BUCKETS = [name.lower() for name in env_list("MKTOPS_RESERVED_BUCKETS")]
for _arn in MKTOPS_PLATFORM_PRINCIPALS:
    if not _arn.startswith("arn:"):
        raise ImproperlyConfigured(f"MKTOPS_PLATFORM_PRINCIPALS: {_arn!r} is not an ARN.")

# --- tenant-given URLs ----------------------------------------------------
MKTOPS_ALLOW_PRIVATE_TARGETS = env_bool("MKTOPS_ALLOW_PRIVATE_TARGETS", False)

# --- ingestion API limits (documented in the README and the OpenAPI schema)
MKTOPS_API_MAX_EVENTS = env_int("MKTOPS_API_MAX_EVENTS", 5000, minimum=1)
MKTOPS_API_MAX_BYTES = env_int("MKTOPS_API_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)
# keys of one event's user_attributes, event_attributes or device_attributes (each): senders
# stay within a few hundred; past it the event is rejected
MKTOPS_API_MAX_ATTRIBUTES = env_int("MKTOPS_API_MAX_ATTRIBUTES", 1000, minimum=1)
# names in a tenant's catalogues (what the admin's pickers offer); an event bringing a new name
# past the cap is rejected, events with known names are still accepted
MKTOPS_API_MAX_ATTRIBUTE_NAMES = env_int("MKTOPS_API_MAX_ATTRIBUTE_NAMES", 10_000, minimum=1)
MKTOPS_API_MAX_EVENT_NAMES = env_int("MKTOPS_API_MAX_EVENT_NAMES", 2_000, minimum=1)
# Django reads the body itself only for forms; the API checks its own limit
# first and answers 413, so Django's own cap must sit above it.
DATA_UPLOAD_MAX_MEMORY_SIZE = MKTOPS_API_MAX_BYTES + 1024 * 1024

# --- channels: the messaging platforms' APIs (ours, never tenant-given; the README lists them)
MKTOPS_META_GRAPH_URL = env_url("MKTOPS_META_GRAPH_URL", "https://graph.facebook.com/v21.0").rstrip("/")
MKTOPS_VIBER_API_URL = env_url("MKTOPS_VIBER_API_URL", "https://chatapi.viber.com/pa").rstrip("/")
MKTOPS_SMS_API_URL = env_url("MKTOPS_SMS_API_URL", "https://api.twilio.com").rstrip("/")
# seconds for one request to a platform (and for an SMTP or DNS answer)
MKTOPS_CHANNEL_TIMEOUT_SECONDS = env_int("MKTOPS_CHANNEL_TIMEOUT_SECONDS", 10, minimum=1)
# "host:port" of the resolver for SPF/DKIM lookups; empty: the system's resolver
# (the address guard, mktops.net, resolves tenant-given hosts through it too)
MKTOPS_DNS_RESOLVER = env_str("MKTOPS_DNS_RESOLVER")
if MKTOPS_DNS_RESOLVER and not re.fullmatch(r"[0-9A-Fa-f.:\[\]]+:[0-9]{1,5}", MKTOPS_DNS_RESOLVER):
    raise ImproperlyConfigured(
        f"MKTOPS_DNS_RESOLVER={MKTOPS_DNS_RESOLVER!r} is not an address:port (e.g. 10.0.0.2:53)."
    )

# --- webhooks: CA certificates trusted for endpoints besides the system's (a PEM file; the demo's or a
# test's own CA); a tenant's endpoint needs a publicly trusted certificate
MKTOPS_WEBHOOK_CA_BUNDLE = env_str("MKTOPS_WEBHOOK_CA_BUNDLE")
if MKTOPS_WEBHOOK_CA_BUNDLE and not Path(MKTOPS_WEBHOOK_CA_BUNDLE).is_file():
    raise ImproperlyConfigured(f"MKTOPS_WEBHOOK_CA_BUNDLE={MKTOPS_WEBHOOK_CA_BUNDLE!r} is not a file.")

# --- quarantine: the region a phone number without "+country code" is read in (ISO 3166 alpha-2,
# e.g. "FR"); empty: such a number is refused
MKTOPS_DEFAULT_PHONE_REGION = env_str("MKTOPS_DEFAULT_PHONE_REGION").upper() or None
if MKTOPS_DEFAULT_PHONE_REGION and not re.fullmatch(r"[A-Z]{2}", MKTOPS_DEFAULT_PHONE_REGION):
    raise ImproperlyConfigured(
        f"MKTOPS_DEFAULT_PHONE_REGION={MKTOPS_DEFAULT_PHONE_REGION!r} is not a two-letter region code."
    )
# delivery reports per POST /api/v1/delivery-reports (413 beyond)
MKTOPS_API_MAX_REPORTS = env_int("MKTOPS_API_MAX_REPORTS", 5000, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"],
             "level": env_choice("LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"))},
    "loggers": {"django.db.backends": {"level": "INFO"}},
}
