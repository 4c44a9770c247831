"""Issue 14 item 19: the archive search finds messages by email address and by phone number."""

import pytest
from django.urls import reverse

from archive.models import ArchivedMessage
from mktops.models import Contact
from tests.archive.conftest import email_sent_event, message_for, sms_sent_event

pytestmark = pytest.mark.django_db

SEARCH = "admin:archive_archivedmessage_changelist"


def found(client, term: str) -> set[str]:
    response = client.get(reverse(SEARCH), {"q": term})
    assert response.status_code == 200
    return {row.event_uuid for row in response.context["cl"].result_list}


def test_search_by_email_address_and_phone_number(archive_on, ingest, as_support_a):
    ingest(email_sent_event(1), sms_sent_event(2), email_sent_event(3))
    assert message_for("uuid-1").recipient == "user1@example.com"
    assert message_for("uuid-2").recipient == "+15550000102"
    assert found(as_support_a, "User1@Example.com") == {"uuid-1"}
    assert found(as_support_a, "+1 555-000-0102") == {"uuid-2"}
    assert found(as_support_a, "nobody@example.com") == set()


def test_the_contacts_current_address_finds_messages_sent_before_it_changed(archive_on, ingest, as_operator_a):
    ingest(email_sent_event(1))
    Contact.objects.filter(uid="user-1").update(email="new-address@example.com")
    assert found(as_operator_a, "new-address@example.com") == {"uuid-1"}
    assert found(as_operator_a, "user1@example.com") == {"uuid-1"}  # the address it was sent to


def test_another_tenant_finds_nothing_by_the_address(archive_on, ingest, as_operator_b):
    ingest(email_sent_event(1))
    assert ArchivedMessage.objects.count() == 1
    assert found(as_operator_b, "user1@example.com") == set()


def test_the_search_form_has_the_address_box(archive_on, as_support_a):
    page = as_support_a.get(reverse(SEARCH)).content.decode()
    assert 'id="as-address" name="q"' in page and "Email address or phone number" in page
