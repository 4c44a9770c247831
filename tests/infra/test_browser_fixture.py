"""The browser fixture: real Chromium against the live server."""

import pytest

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser


def test_login_form_signs_in(page_for, support_a):
    page = page_for(support_a, password=PASSWORD)
    response = page.goto("/admin/")
    assert response.status == 200
    assert "sam-support-a" in page.locator("#user-tools").inner_text().lower()


def test_wrong_password_stays_on_login_page(page_for, support_a):
    page = page_for(None)
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", support_a.username)
    page.fill("#id_password", "not-the-password")
    page.click("input[type=submit]")
    assert page.locator(".errornote").is_visible()
    assert "/admin/login/" in page.url


def test_injected_session_and_full_urls(page_for, operator_a, live_server):
    page = page_for(operator_a)
    response = page.goto(live_server.url + "/admin/mktops/contact/")
    assert response.status == 200
    assert "/admin/login/" not in page.url


def test_anonymous_page_is_sent_to_login(page_for):
    page = page_for(None)
    page.goto("/admin/mktops/contact/")
    assert "/admin/login/" in page.url
