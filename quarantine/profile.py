"""The quarantine on the contact profile (a panel: each address's status, the blocklist, the
contact's deliveries) and the contact list's filter "Email quarantined"."""

from django.contrib import admin
from django.db.models import Exists, OuterRef
from django.template.loader import render_to_string
from django.urls import reverse

from mktops import roles
from quarantine import blocklist, reports
from quarantine.models import Channel, QuarantineEntry, Status


def quarantine_profile_panel(request, contact) -> str:
    addresses = reports.contact_addresses(contact)
    opted_out = blocklist.contact_blocklist(contact)
    for address in addresses:
        # the opt-out covers every address of the contact on its channel
        address.opted_out = address.channel in opted_out
    return render_to_string("quarantine/profile_panel.html", {
        "contact": contact,
        "addresses": addresses,
        "blocklist": [(value, label, opted_out.get(value)) for value, label in Channel.choices],
        "may_change": roles.is_operator_of(request.user, contact.tenant_id),
        "add_url": reverse("admin:quarantine_blocklistentry_add_for_contact", args=[contact.pk]),
        "deliveries": reports.contact_deliveries(contact, addresses),
    }, request=request)


class EmailQuarantinedFilter(admin.SimpleListFilter):
    """Contacts whose email address is quarantined (or on the denylist), in their own tenant."""

    title = "email quarantine"
    parameter_name = "email_quarantine"
    CHOICES = {
        "quarantined": ("Email quarantined", (Status.QUARANTINED,)),
        "denylisted": ("Email on denylist", (Status.DENYLISTED,)),
        "excluded": ("Email quarantined or on denylist", (Status.QUARANTINED, Status.DENYLISTED)),
    }

    def lookups(self, request, model_admin):
        return [(value, label) for value, (label, _) in self.CHOICES.items()]

    def queryset(self, request, queryset):
        choice = self.CHOICES.get(self.value() or "")
        if choice is None:
            return queryset
        # the contact list stores emails lower-cased and trimmed, as quarantine normalises them
        return queryset.filter(Exists(QuarantineEntry.objects.filter(
            tenant_id=OuterRef("tenant_id"), channel=Channel.EMAIL, address=OuterRef("email"),
            status__in=choice[1])))
