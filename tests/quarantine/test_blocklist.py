"""The blocklist ("no longer contact"): the service, its admin and the profile's buttons, by persona."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from mktops.models import AuditLog
from quarantine import blocklist
from quarantine.analysis import delivery_analyse
from quarantine.models import BlocklistEntry
from tests.quarantine.analysis_helpers import contact, entry


@pytest.fixture
def ann(tenant_a):
    return contact(tenant_a, "ann", email="ann@example.com", mobile="+4915100000001", tokens=["tok-a"])


def add_url(person):
    return reverse("admin:quarantine_blocklistentry_add_for_contact", args=[person.pk])


def test_add_and_remove_are_audited(ann, operator_a):
    item = blocklist.blocklist_add(contact=ann, channel="sms", note="replied STOP", by=operator_a)
    assert (item.uid, item.tenant_id, item.created_by) == ("ann", ann.tenant_id, operator_a)
    blocklist.blocklist_remove(entry=item, by=operator_a)
    rows = list(AuditLog.objects.filter(action__startswith="quarantine.blocklist")
                .order_by("id").values_list("action", "user", "tenant", "detail"))
    assert rows == [
        ("quarantine.blocklist.add", operator_a.pk, ann.tenant_id,
         {"uid": "ann", "channel": "sms", "note": "replied STOP"}),
        ("quarantine.blocklist.remove", operator_a.pk, ann.tenant_id,
         {"uid": "ann", "channel": "sms", "note": "replied STOP"}),
    ]
    assert not BlocklistEntry.objects.exists()


def test_twice_on_one_channel_is_refused_naming_the_field(ann):
    blocklist.blocklist_add(contact=ann, channel="email")
    with pytest.raises(ValidationError) as exc:
        blocklist.blocklist_add(contact=ann, channel="email")
    assert exc.value.message_dict == {"channel": [blocklist.ERR_ALREADY.format(channel="Email")]}
    with pytest.raises(ValidationError) as exc:
        blocklist.blocklist_add(contact=ann, channel="fax")
    assert exc.value.message_dict == {"channel": [blocklist.ERR_CHANNEL]}


def test_an_opt_out_wins_over_the_allowlist_but_only_for_that_contact(ann, tenant_a):
    entry(tenant_a, "ann@example.com", "allowlisted")
    blocklist.blocklist_add(contact=ann, channel="email")
    outcome = delivery_analyse(tenant=tenant_a, delivery_id="d", channel="email",
                               targets=[("ann", "ann@example.com"), ("ben", "ann@example.com")])
    assert [(x[1], x[4]) for x in outcome.excluded] == [("ann", "blocklisted")]


def test_operator_opts_a_contact_out_from_the_profile_and_back(as_operator_a, ann):
    response = as_operator_a.post(add_url(ann), {"channel": "email", "note": "asked by phone"})
    assert response.status_code == 302
    item = BlocklistEntry.objects.get()
    assert (item.uid, item.channel, item.note) == ("ann", "email", "asked by phone")
    profile = as_operator_a.get(reverse("admin:mktops_contact_change", args=[ann.pk])).content.decode()
    assert "Opted out" in profile and reverse("admin:quarantine_blocklistentry_remove", args=[item.pk]) in profile
    assert as_operator_a.post(reverse("admin:quarantine_blocklistentry_remove", args=[item.pk])).status_code == 302
    assert not BlocklistEntry.objects.exists()
    assert AuditLog.objects.filter(action="quarantine.blocklist.remove").count() == 1


def test_a_get_changes_nothing(as_operator_a, ann):
    assert as_operator_a.get(add_url(ann)).status_code == 302
    item = blocklist.blocklist_add(contact=ann, channel="push")
    assert as_operator_a.get(reverse("admin:quarantine_blocklistentry_remove", args=[item.pk])).status_code == 405
    assert BlocklistEntry.objects.count() == 1


def test_support_sees_the_opt_out_but_cannot_change_it(as_support_a, ann):
    item = blocklist.blocklist_add(contact=ann, channel="email")
    profile = as_support_a.get(reverse("admin:mktops_contact_change", args=[ann.pk])).content.decode()
    assert "Opted out" in profile and "q-unblock" not in profile and "q-block" not in profile
    assert as_support_a.post(add_url(ann), {"channel": "sms"}).status_code == 403
    assert as_support_a.post(reverse("admin:quarantine_blocklistentry_remove", args=[item.pk])).status_code == 403
    assert as_support_a.get(reverse("admin:quarantine_blocklistentry_changelist")).status_code == 200
    assert as_support_a.get(reverse("admin:quarantine_blocklistentry_add")).status_code == 403
    assert as_support_a.post(reverse("admin:quarantine_blocklistentry_delete", args=[item.pk]),
                             {"post": "yes"}).status_code == 403
    assert BlocklistEntry.objects.filter(channel="email").count() == 1 and BlocklistEntry.objects.count() == 1


def test_tenant_b_gets_404_for_everything_of_tenant_a(as_operator_b, ann):
    item = blocklist.blocklist_add(contact=ann, channel="email")
    assert as_operator_b.post(add_url(ann), {"channel": "sms"}).status_code == 404
    assert as_operator_b.post(reverse("admin:quarantine_blocklistentry_remove", args=[item.pk])).status_code == 404
    assert as_operator_b.get(reverse("admin:quarantine_blocklistentry_change", args=[item.pk])).status_code == 404
    listing = as_operator_b.get(reverse("admin:quarantine_blocklistentry_changelist")).content.decode()
    assert ">ann<" not in listing
    assert BlocklistEntry.objects.count() == 1


def test_operator_adds_by_uid_in_the_admin_form_and_deletes_audited(as_operator_a, ann, tenant_a):
    response = as_operator_a.post(reverse("admin:quarantine_blocklistentry_add"),
                                  {"tenant": tenant_a.pk, "uid_given": "nobody", "channel": "email", "note": ""})
    assert response.status_code == 200 and blocklist.ERR_UNKNOWN_CONTACT in response.content.decode()
    response = as_operator_a.post(reverse("admin:quarantine_blocklistentry_add"),
                                  {"tenant": tenant_a.pk, "uid_given": "ann", "channel": "email", "note": "form"})
    assert response.status_code == 302, response.content.decode()[:2000]
    item = BlocklistEntry.objects.get()
    assert (item.contact, item.note) == (ann, "form")
    response = as_operator_a.post(reverse("admin:quarantine_blocklistentry_delete", args=[item.pk]), {"post": "yes"})
    assert response.status_code == 302
    assert list(AuditLog.objects.filter(action__startswith="quarantine.blocklist").values_list("action", flat=True)
                .order_by("id")) == ["quarantine.blocklist.add", "quarantine.blocklist.remove"]


def test_operator_b_cannot_place_an_entry_in_tenant_a(as_operator_b, ann, tenant_a):
    response = as_operator_b.post(reverse("admin:quarantine_blocklistentry_add"),
                                  {"tenant": tenant_a.pk, "uid_given": "ann", "channel": "email"})
    assert response.status_code == 200  # the form refuses the tenant as not a choice
    assert not BlocklistEntry.objects.exists()
