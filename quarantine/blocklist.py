"""The blocklist ("no longer contact"): a contact opted out of a channel.

It is about the contact, not an address: every target of the contact (its uid) on that channel
is excluded at analysis, whichever address the delivery would use (its email, its number, each
of its devices' tokens), and it wins over an allowlisted address. Another contact who shares the
address is not affected (that is quarantine's denylist). Operators add and remove entries; each
change is in the audit log."""

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from mktops import clock
from mktops.models import Contact
from mktops.services import audit_log_write
from quarantine.models import BlocklistEntry, Channel

ERR_CHANNEL = "The channel is one of email, sms, push."
ERR_UNKNOWN_CONTACT = "No contact of this tenant has this uid."
ERR_ALREADY = "This contact is already on the {channel} blocklist."
ERR_NOTE = "A note has at most 500 characters."


def blocklist_add(*, contact: Contact, channel: str, note: str = "", by=None) -> BlocklistEntry:
    if channel not in Channel.values:
        raise ValidationError({"channel": ERR_CHANNEL})
    note = (note or "").strip()
    if len(note) > 500:
        raise ValidationError({"note": ERR_NOTE})
    try:
        with transaction.atomic():
            entry = BlocklistEntry.objects.create(
                tenant_id=contact.tenant_id, contact=contact, uid=contact.uid, channel=channel, note=note,
                created_by=by if getattr(by, "is_authenticated", False) else None, created_at=clock.now())
            audit_log_write(user=by, action="quarantine.blocklist.add", tenant=contact.tenant, obj=entry,
                            detail={"uid": contact.uid, "channel": channel, "note": note})
    except IntegrityError:
        raise ValidationError({"channel": ERR_ALREADY.format(channel=Channel(channel).label)}) from None
    return entry


def blocklist_add_by_uid(*, tenant, uid: str, channel: str, note: str = "", by=None) -> BlocklistEntry:
    contact = Contact.objects.filter(tenant=tenant, uid=(uid or "").strip()).first()
    if contact is None:
        raise ValidationError({"uid": ERR_UNKNOWN_CONTACT})
    return blocklist_add(contact=contact, channel=channel, note=note, by=by)


@transaction.atomic
def blocklist_remove(*, entry: BlocklistEntry, by=None) -> None:
    audit_log_write(user=by, action="quarantine.blocklist.remove", tenant=entry.tenant, obj=entry,
                    detail={"uid": entry.uid, "channel": entry.channel, "note": entry.note})
    entry.delete()


def contact_blocklist(contact: Contact) -> dict[str, BlocklistEntry]:
    """channel → the contact's entry, for the channels it opted out of."""
    return {entry.channel: entry for entry in BlocklistEntry.objects.filter(tenant_id=contact.tenant_id,
                                                                            uid=contact.uid)}
