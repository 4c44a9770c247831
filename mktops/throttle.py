"""Sign-in throttling on top of django-axes: who is locked, the page that says
so, the audit rows, and the CSM's unlock.

Failed sign-ins are counted per client address (any username, limit
AXES_FAILURE_LIMIT) and per username (any address, limit
MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT) over the last AXES_COOLOFF_TIME; reaching
either limit locks sign-in for that address or that account until enough of
those failures are older than the cooloff. settings.py says why these two.

Axes stores the attempts (AccessAttempt, one row per username, address and
user agent) and reads its own clock, django.utils.timezone.now(), not
mktops.clock: times here are the request's `axes_attempt_time` so that they
agree with axes'.
"""

import ipaddress
from dataclasses import dataclass
from datetime import datetime, timedelta

from axes.backends import AxesStandaloneBackend
from axes.exceptions import AxesBackendPermissionDenied
from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username, get_cool_off
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from axes.signals import user_locked_out
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.dispatch import receiver
from django.shortcuts import render
from django.utils import timezone

from mktops import services

AUDIT_LOCKED_OUT = "login.locked_out"
AUDIT_UNLOCKED = "login.unlocked"

LOCKED_ADDRESS = ("Sign-in from your address {address} is locked after {limit} failed attempts, "
                  "until {until}. Your customer success manager (CSM) can unlock it sooner.")
LOCKED_ACCOUNT = ("Sign-in to the account \u201c{username}\u201d is locked after {limit} failed attempts, "
                  "until {until}. Your customer success manager (CSM) can unlock it sooner.")

# set on a request that was refused because it was already locked, so that
# axes' repeated lockout signal for it writes no second audit row
_REFUSED_WHILE_LOCKED = "mktops_refused_while_locked"

BY_ADDRESS = "address"
BY_ACCOUNT = "account"


@dataclass(frozen=True)
class LoginLock:
    by: str  # BY_ADDRESS or BY_ACCOUNT
    limit: int
    until: datetime


# --- the client's address ---------------------------------------------------
def client_address(request) -> str | None:
    """The address failures are counted against (AXES_CLIENT_IP_CALLABLE).

    REMOTE_ADDR, or the configured proxy header's entry written by the
    outermost trusted proxy. An IPv6 client counts as its whole /64: one
    connection usually owns that many addresses and could rotate through them.
    """
    raw = _forwarded_address(request) or request.META.get("REMOTE_ADDR", "")
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return None
    if address.version == 6 and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    if address.version == 6:
        return str(ipaddress.ip_network(f"{address}/64", strict=False).network_address)
    return str(address)


def _forwarded_address(request) -> str | None:
    header = settings.MKTOPS_CLIENT_IP_HEADER
    if not header:
        return None
    raw = request.META.get("HTTP_" + header.upper().replace("-", "_"), "")
    hops = [hop.strip() for hop in raw.split(",") if hop.strip()]
    # each proxy appends the address it was reached from; entries left of the
    # outermost trusted proxy's were written by the client and prove nothing
    count = settings.MKTOPS_TRUSTED_PROXY_COUNT
    if len(hops) < count:
        return None  # it did not come through the proxies: REMOTE_ADDR is the client
    return hops[-count]


# --- who is locked ----------------------------------------------------------
def _recent_failures(*, at: datetime, **match) -> list[tuple[datetime, int]]:
    """(last failure, failures) of the attempt rows matching `match` within the cooloff, oldest first."""
    return list(
        AccessAttempt.objects.filter(attempt_time__gte=at - get_cool_off(), **match)
        .order_by("attempt_time")
        .values_list("attempt_time", "failures_since_start")
    )


def _locked_until(rows: list[tuple[datetime, int]], limit: int) -> datetime | None:
    """When the failures in `rows` drop below `limit` as they age out, oldest first; None if already below."""
    remaining = sum(failures for _, failures in rows)
    if remaining < limit:
        return None
    for last_failure, failures in rows:
        remaining -= failures
        if remaining < limit:
            return last_failure + get_cool_off()
    raise AssertionError("unreachable: every failure ages out")


def login_lock_find(*, username: str | None, ip_address: str | None, at: datetime) -> LoginLock | None:
    """The lock on signing in as `username` from `ip_address` at `at`, the address's first."""
    checks = (
        (BY_ADDRESS, {"ip_address": ip_address}, settings.AXES_FAILURE_LIMIT),
        (BY_ACCOUNT, {"username": username}, settings.MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT),
    )
    for by, match, limit in checks:
        until = _locked_until(_recent_failures(at=at, **match), limit)
        if until is not None:
            return LoginLock(by=by, limit=limit, until=until)
    return None


class LoginThrottleHandler(AxesDatabaseHandler):
    """Axes' database handler with a limit of its own for the username."""

    def get_failures(self, request, credentials=None) -> int:
        # axes compares this one number with AXES_FAILURE_LIMIT: report a
        # locked account as reaching it
        lock = login_lock_find(username=get_client_username(request, credentials),
                               ip_address=request.axes_ip_address, at=request.axes_attempt_time)
        if lock is not None:
            return max(lock.limit, settings.AXES_FAILURE_LIMIT)
        return sum(failures for _, failures in
                   _recent_failures(at=request.axes_attempt_time, ip_address=request.axes_ip_address))


class LoginThrottleBackend(AxesStandaloneBackend):
    """Refuses a locked address or account before any password is checked."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            # not a sign-in from a client (Client.login in tests, a shell): no
            # address to count against, and axes would raise
            return None
        try:
            return super().authenticate(request, username, password, **kwargs)
        except AxesBackendPermissionDenied:
            setattr(request, _REFUSED_WHILE_LOCKED, True)
            raise


# --- what the client is told ------------------------------------------------
def _minute_up(moment: datetime) -> str:
    # rounded up: at the minute shown the lock has ended
    rounded = (moment + timedelta(seconds=59, microseconds=999_999)).replace(second=0, microsecond=0)
    return f"{timezone.localtime(rounded):%Y-%m-%d %H:%M %Z}"


def lockout_message(lock: LoginLock, *, username: str, ip_address: str | None) -> str:
    template = LOCKED_ADDRESS if lock.by == BY_ADDRESS else LOCKED_ACCOUNT
    return template.format(address=ip_address or "unknown", username=username, limit=lock.limit,
                           until=_minute_up(lock.until))


def lockout_response(request, original_response, credentials):
    """The sign-in page with the lock explained, 429 (AXES_LOCKOUT_CALLABLE)."""
    username = get_client_username(request, credentials) or ""
    lock = login_lock_find(username=username, ip_address=request.axes_ip_address, at=request.axes_attempt_time)
    if lock is None:  # unlocked between the refusal and now
        return original_response
    context = {
        **admin.site.each_context(request),
        "title": "Sign-in locked",
        "app_path": request.get_full_path(),
        # a fresh form: nothing typed is echoed but the username
        "form": AdminAuthenticationForm(request, initial={"username": username}),
        "next": request.POST.get(REDIRECT_FIELD_NAME, request.GET.get(REDIRECT_FIELD_NAME, "")),
        "lockout_message": lockout_message(lock, username=username, ip_address=request.axes_ip_address),
    }
    return render(request, "admin/login_locked.html", context, status=settings.AXES_HTTP_RESPONSE_CODE)


# --- audit ------------------------------------------------------------------
@receiver(user_locked_out, dispatch_uid="mktops.throttle.audit_lockout")
def _audit_lockout(sender, request, username, ip_address, **kwargs):
    if getattr(request, _REFUSED_WHILE_LOCKED, False):
        return  # a try while already locked: written when the lock began
    lock = login_lock_find(username=username, ip_address=ip_address, at=request.axes_attempt_time)
    services.audit_log_write(
        user=None, action=AUDIT_LOCKED_OUT,
        detail={"username": username, "ip_address": ip_address,
                "locked_by": lock.by if lock else "", "limit": lock.limit if lock else None,
                "until": lock.until.isoformat() if lock else None},
    )


def login_unlock(*, username: str | None, ip_address: str | None, by) -> int:
    """Clear the failures of `username` (from anywhere) and of `ip_address` (for anyone); audited."""
    cleared = axes_reset(ip=ip_address, username=username, ip_or_username=True)
    services.audit_log_write(
        user=by, action=AUDIT_UNLOCKED,
        detail={"username": username, "ip_address": ip_address, "attempts_cleared": cleared},
    )
    return cleared


def signin_logs_prune(*, now: datetime | None = None) -> int:
    """Delete axes' sign-in and failure logs older than MKTOPS_SIGNIN_LOG_DAYS; returns how many.
    Axes writes a row per sign-in and never deletes one, so without this the table only grows.
    The attempts that lock (AccessAttempt) are axes' own and expire with the cooloff."""
    cutoff = (now or timezone.now()) - timedelta(days=settings.MKTOPS_SIGNIN_LOG_DAYS)
    deleted = 0
    for model in (AccessLog, AccessFailureLog):
        deleted += model.objects.filter(attempt_time__lt=cutoff).delete()[0]
    return deleted
