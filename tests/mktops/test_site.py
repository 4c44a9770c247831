"""The site around the admin: health check, root redirect, security headers."""

from django.urls import reverse


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_plain_http_when_https_is_enforced(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/healthz").status_code == 200
    redirect = client.get(reverse("admin:login"))
    assert redirect.status_code == 301 and redirect["Location"].startswith("https://")


def test_the_root_leads_to_the_console(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:index")


def test_pages_refuse_to_be_framed(as_support_a):
    response = as_support_a.get(reverse("admin:index"))
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_login_page_is_branded(client, db):
    page = client.get(reverse("admin:login")).content.decode()
    assert '<div id="site-name"><a href="/admin/">mktops</a></div>' in page


def test_whitenoise_serves_the_admin_assets(client):
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert b"".join(response.streaming_content if response.streaming else [response.content])
