"""Shared by the analysis, report and profile tests: entries and contacts made directly."""

from mktops import clock
from mktops.models import Contact, Device
from quarantine.addresses import email_domain, normalise
from quarantine.models import QuarantineEntry


def entry(tenant, address, status="quarantined", channel="email", **fields) -> QuarantineEntry:
    address = normalise(channel, address)
    defaults = {"error_type": "hard", "error_reason": "unknown_user", "error_count": 1, "last_error_at": clock.now()}
    defaults.update(fields)
    return QuarantineEntry.objects.create(tenant=tenant, channel=channel, address=address, status=status,
                                          domain=email_domain(address) if channel == "email" else "", **defaults)


def contact(tenant, uid, email="", mobile="", tokens=()) -> Contact:
    person = Contact.objects.create(tenant=tenant, uid=uid, email=email, mobile_number=mobile)
    for token in tokens:
        Device.objects.create(contact=person, platform="ANDROID", push_token=token)
    return person
