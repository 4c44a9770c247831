from tests.conftest import email_sent_event, make_event


def test_ingest_and_profile(api, as_support_a, tenant_a):
    r = api("/events", {"events": [make_event(1), email_sent_event(2), {"uid": "x"}]})
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["accepted"] == 2
    assert body["rejected"][0]["index"] == 2
    from mktops.models import Contact

    contact = Contact.objects.get(tenant=tenant_a, uid="user-2")
    page = as_support_a.get(f"/admin/mktops/contact/{contact.pk}/change/")
    assert page.status_code == 200
    assert b"Email Sent" in page.content
