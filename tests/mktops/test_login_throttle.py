"""Sign-in throttling through the real admin login form (django-axes + mktops.throttle).

Failures count per address (AXES_FAILURE_LIMIT, any username) and per username
(MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT, any address); a lock answers 429 with the
sign-in page saying why and until when, writes one audit row, and a CSM lifts it.
"""

from datetime import timedelta

import pytest
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client, RequestFactory
from django.utils import timezone

from mktops import services, throttle
from mktops.models import AuditLog, Role
from tests.conftest import PASSWORD
from tests.mktops.test_settings import _production_env, _setup

LOGIN = "/admin/login/"
ATTEMPTS = "/admin/axes/accessattempt/"
ACCESS_LOG = "/admin/axes/accesslog/"
HOME = "10.1.0.1"
ELSEWHERE = "10.2.0.2"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.AXES_FAILURE_LIMIT = 5
    settings.MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT = 8
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)


def sign_in(username, password, address=HOME):
    """A fresh browser posting the admin login form from `address`: (response, signed in?)."""
    client = Client(REMOTE_ADDR=address)
    response = client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})
    return response, "_auth_user_id" in client.session


def fail(username, times, address=HOME):
    """`times` wrong passwords; the answers' status codes."""
    statuses = []
    for _ in range(times):
        response, signed_in = sign_in(username, "wrong-password", address)
        assert not signed_in
        statuses.append(response.status_code)
    return statuses


def expected_message(by, *, until_row, username="", address=None):
    """The message for a lock that ends a cooloff after `until_row`'s last failure."""
    limit = settings.AXES_FAILURE_LIMIT if by == throttle.BY_ADDRESS else settings.MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT
    lock = throttle.LoginLock(by=by, limit=limit, until=until_row.attempt_time + settings.AXES_COOLOFF_TIME)
    return throttle.lockout_message(lock, username=username, ip_address=address)


def lockouts():
    return AuditLog.objects.filter(action=throttle.AUDIT_LOCKED_OUT)


# --- the address lock -------------------------------------------------------
def test_the_attempt_after_the_limit_is_refused_even_with_the_right_password(operator_a):
    # the failure that reaches the limit already answers with the lock
    assert fail(operator_a.username, 5) == [200, 200, 200, 200, 429]
    response, signed_in = sign_in(operator_a.username, PASSWORD)
    assert response.status_code == 429
    assert not signed_in
    page = response.content.decode()
    # one row (this username, address and browser): the lock ends a cooloff after its last failure
    message = expected_message(throttle.BY_ADDRESS, until_row=AccessAttempt.objects.get(),
                               username=operator_a.username, address=HOME)
    assert message in page
    assert f"Sign-in from your address {HOME} is locked after 5 failed attempts, until " in message
    assert "Your customer success manager (CSM) can unlock it sooner." in message
    # the page is the sign-in form again, echoing no password
    assert 'id="login-form"' in page and PASSWORD not in page


def test_a_lockout_writes_one_platform_audit_row_naming_username_and_address(operator_a):
    fail(operator_a.username, 5)
    for _ in range(3):  # tries while locked add no rows
        assert sign_in(operator_a.username, PASSWORD)[0].status_code == 429
    row = lockouts().get()
    assert row.tenant is None and row.user is None
    assert row.detail["username"] == operator_a.username
    assert row.detail["ip_address"] == HOME
    assert row.detail["locked_by"] == throttle.BY_ADDRESS
    assert row.detail["limit"] == 5


def test_the_address_lock_holds_for_every_username_but_not_for_other_addresses(operator_a, operator_b):
    fail(operator_a.username, 5)
    assert sign_in(operator_b.username, PASSWORD, HOME)[0].status_code == 429
    response, signed_in = sign_in(operator_a.username, PASSWORD, ELSEWHERE)
    assert response.status_code == 302 and signed_in


def test_tries_while_locked_do_not_extend_the_lock(operator_a):
    fail(operator_a.username, 5)
    first = sign_in(operator_a.username, "wrong-password")[0].content.decode()
    again = sign_in(operator_a.username, "wrong-password")[0].content.decode()
    assert AccessAttempt.objects.get().failures_since_start == 5
    until = first.split("until ")[1].split(".")[0]
    assert until in again


def test_below_the_limit_the_right_password_still_signs_in(operator_a):
    fail(operator_a.username, 4)
    response, signed_in = sign_in(operator_a.username, PASSWORD)
    assert response.status_code == 302 and signed_in
    assert not lockouts().exists()


# --- the account lock -------------------------------------------------------
def test_guessing_one_account_from_many_addresses_locks_that_account(operator_a, operator_b):
    for i in range(4):  # 2 each from 4 addresses: never an address's limit
        fail(operator_a.username, 2, address=f"10.9.0.{i}")
    response, signed_in = sign_in(operator_a.username, PASSWORD, ELSEWHERE)
    assert response.status_code == 429 and not signed_in
    # 8 failures in rows of 2: the lock ends when the oldest row ages out
    oldest = AccessAttempt.objects.order_by("attempt_time").first()
    message = expected_message(throttle.BY_ACCOUNT, until_row=oldest, username=operator_a.username)
    assert message in response.content.decode()
    assert f"account \u201c{operator_a.username}\u201d is locked after 8 failed attempts" in message
    assert lockouts().get().detail["locked_by"] == throttle.BY_ACCOUNT
    # other accounts, from the same addresses, are not touched
    assert sign_in(operator_b.username, PASSWORD, "10.9.0.1")[1]


# --- expiry and unlock ------------------------------------------------------
def _attempt(*, at, failures, username="someone", address=HOME, agent="a"):
    row = AccessAttempt.objects.create(username=username, ip_address=address, user_agent=agent,
                                       failures_since_start=failures, get_data="", post_data="",
                                       http_accept="", path_info=LOGIN)
    AccessAttempt.objects.filter(pk=row.pk).update(attempt_time=at)  # attempt_time is auto_now_add


def test_a_lock_lasts_until_enough_failures_have_aged_out(db):
    t = timezone.now()
    _attempt(at=t - timedelta(minutes=10), failures=3, agent="a")
    _attempt(at=t - timedelta(minutes=5), failures=2, agent="b")
    _attempt(at=t - timedelta(minutes=1), failures=1, agent="c")
    # 6 failures; once the oldest 3 age out, 3 are left, below the limit of 5
    lock = throttle.login_lock_find(username="someone-else", ip_address=HOME, at=t)
    assert lock == throttle.LoginLock(by=throttle.BY_ADDRESS, limit=5, until=t + timedelta(minutes=5))
    assert throttle.login_lock_find(username="someone-else", ip_address=HOME,
                                    at=t + timedelta(minutes=5, seconds=1)) is None
    assert throttle.login_lock_find(username="someone-else", ip_address=ELSEWHERE, at=t) is None


def test_the_lock_ends_when_the_cooloff_has_passed(operator_a):
    fail(operator_a.username, 5)
    assert sign_in(operator_a.username, PASSWORD)[0].status_code == 429
    # axes reads django's clock, not mktops.clock: age the failures instead
    for attempt in AccessAttempt.objects.all():
        AccessAttempt.objects.filter(pk=attempt.pk).update(
            attempt_time=attempt.attempt_time - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    response, signed_in = sign_in(operator_a.username, PASSWORD)
    assert response.status_code == 302 and signed_in


def test_a_csm_unlocks_through_the_admin_and_it_is_audited(operator_a, csm, as_csm):
    fail(operator_a.username, 5)
    listing = as_csm.get(ATTEMPTS)
    assert listing.status_code == 200
    assert operator_a.username in listing.content.decode()
    attempt = AccessAttempt.objects.get()
    response = as_csm.post(ATTEMPTS, {"action": "unlock", "_selected_action": [attempt.pk]})
    assert response.status_code == 302
    assert not AccessAttempt.objects.exists()
    row = AuditLog.objects.get(action=throttle.AUDIT_UNLOCKED)
    assert row.user == csm and row.tenant is None
    assert row.detail == {"username": operator_a.username, "ip_address": HOME, "attempts_cleared": 1}
    response, signed_in = sign_in(operator_a.username, PASSWORD)
    assert response.status_code == 302 and signed_in


def test_unlock_lifts_the_address_lock_for_other_usernames_too(operator_a, operator_b, as_csm):
    fail(operator_a.username, 3)
    fail("nobody-such", 2)
    assert sign_in(operator_b.username, PASSWORD)[0].status_code == 429
    attempt = AccessAttempt.objects.get(username=operator_a.username)
    as_csm.post(ATTEMPTS, {"action": "unlock", "_selected_action": [attempt.pk]})
    assert sign_in(operator_b.username, PASSWORD)[1]


@pytest.mark.parametrize("persona", ["as_operator_a", "as_support_a"])
def test_operators_and_support_never_see_or_use_the_attempts(request, persona, operator_a):
    client = request.getfixturevalue(persona)
    fail(operator_a.username, 5)
    attempt = AccessAttempt.objects.get()
    assert client.get(ATTEMPTS).status_code == 403
    assert client.get(f"{ATTEMPTS}{attempt.pk}/change/").status_code == 403
    assert client.post(ATTEMPTS, {"action": "unlock", "_selected_action": [attempt.pk]}).status_code == 403
    assert client.get(ACCESS_LOG).status_code == 403
    assert AccessAttempt.objects.exists()
    assert "/admin/axes/" not in client.get("/admin/").content.decode()
    assert not AuditLog.objects.filter(action=throttle.AUDIT_UNLOCKED).exists()


def test_csm_sees_successful_sign_ins_read_only(operator_a, as_csm):
    assert sign_in(operator_a.username, PASSWORD)[1]
    page = as_csm.get(ACCESS_LOG)
    assert page.status_code == 200 and operator_a.username in page.content.decode()
    assert as_csm.get(f"{ATTEMPTS}add/").status_code == 403


# --- test clients still sign in ---------------------------------------------
def test_client_login_and_force_login_are_not_throttled(operator_a):
    for _ in range(6):
        assert not Client().login(username=operator_a.username, password="wrong-password")
    assert Client().login(username=operator_a.username, password=PASSWORD)
    client = Client()
    client.force_login(operator_a)
    assert client.get("/admin/").status_code == 200
    assert not AccessAttempt.objects.exists()


# --- the client's address ---------------------------------------------------
def _address(settings, header="", count=1, **meta):
    settings.MKTOPS_CLIENT_IP_HEADER = header
    settings.MKTOPS_TRUSTED_PROXY_COUNT = count
    return throttle.client_address(RequestFactory().post(LOGIN, **meta))


def test_a_forwarded_header_is_ignored_unless_configured(settings):
    assert _address(settings, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.1") == "198.51.100.7"


def test_the_configured_header_is_read_from_the_trusted_proxies_end(settings):
    meta = {"REMOTE_ADDR": "10.0.0.5", "HTTP_X_FORWARDED_FOR": "1.2.3.4, 203.0.113.9, 10.0.0.4"}
    # the client wrote 1.2.3.4 itself; the outer proxy saw 203.0.113.9
    assert _address(settings, "X-Forwarded-For", 1, **meta) == "10.0.0.4"
    assert _address(settings, "X-Forwarded-For", 2, **meta) == "203.0.113.9"
    # a request that bypassed the proxies is counted by its own address
    assert _address(settings, "X-Forwarded-For", 2, REMOTE_ADDR="198.51.100.7") == "198.51.100.7"


def test_ipv6_clients_count_as_their_64(settings):
    assert _address(settings, REMOTE_ADDR="2001:db8:1:2:aaaa::1") == "2001:db8:1:2::"
    assert _address(settings, REMOTE_ADDR="2001:db8:1:2:bbbb::9") == "2001:db8:1:2::"
    assert _address(settings, REMOTE_ADDR="::ffff:192.0.2.1") == "192.0.2.1"


@pytest.mark.parametrize("name, value, message", [
    ("AXES_FAILURE_LIMIT", "0", "AXES_FAILURE_LIMIT=0 must be at least 1"),
    ("AXES_COOLOFF_MINUTES", "soon", "AXES_COOLOFF_MINUTES='soon' is not a whole number"),
    ("MKTOPS_LOGIN_USERNAME_FAILURE_LIMIT", "-1", "must be at least 1"),
    ("MKTOPS_CLIENT_IP_HEADER", "X Forwarded: For", "is not a header name"),
    ("MKTOPS_TRUSTED_PROXY_COUNT", "0", "MKTOPS_TRUSTED_PROXY_COUNT=0 must be at least 1"),
])
def test_bad_throttle_settings_refuse_to_start(name, value, message):
    result = _setup(_production_env(**{name: value}))
    assert result.returncode != 0
    assert message in result.stderr


# --- in a real browser --------------------------------------------------------
@pytest.mark.browser
def test_the_locked_sign_in_page_in_a_browser(page_for, transactional_db, tmp_path):
    tenant = services.tenant_create(slug="tenant-o", name="Tenant O")
    operator = services.user_create(username="olga-operator", password=PASSWORD, role=Role.OPERATOR, tenant=tenant)
    page = page_for(None)
    answers = []
    page.on("response", lambda r: answers.append(r.status) if r.url.endswith(LOGIN) and r.request.method == "POST"
            else None)
    for _ in range(5):
        page.goto(LOGIN)
        page.fill("#id_username", operator.username)
        page.fill("#id_password", "wrong-password")
        page.click("input[type=submit]")
        page.wait_for_load_state()
    note = page.locator("#login-locked")
    assert note.is_visible()
    assert "is locked after 5 failed attempts, until" in note.inner_text()
    assert answers[-1] == 429
    assert page.locator("#id_password").input_value() == ""
    page.screenshot(path=str(tmp_path / "login-locked.png"), full_page=True)


def test_old_sign_in_logs_are_pruned_by_the_hourly_purge(db, settings):
    from datetime import timedelta

    from axes.models import AccessFailureLog, AccessLog
    from django.utils import timezone

    from mktops.tasks import purge_expired_events

    settings.MKTOPS_SIGNIN_LOG_DAYS = 30
    now = timezone.now()
    kept = {}
    for model in (AccessLog, AccessFailureLog):
        old = model.objects.create(username="ann", ip_address="192.0.2.1", user_agent="ua")
        new = model.objects.create(username="ann", ip_address="192.0.2.1", user_agent="ua")
        model.objects.filter(pk=old.pk).update(attempt_time=now - timedelta(days=31))
        model.objects.filter(pk=new.pk).update(attempt_time=now - timedelta(days=29))
        kept[model] = new.pk
    purge_expired_events(now=now)
    for model in (AccessLog, AccessFailureLog):
        assert list(model.objects.values_list("pk", flat=True)) == [kept[model]]
