"""Ingestion: validate a batch of events item by item, store the valid ones.

Validation is per item so that one bad event never costs the good ones; the
answer names each rejected event's index, field and rule.
"""

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import orjson
from django.conf import settings
from django.db import IntegrityError, transaction
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from mktops import clock, fastwrite
from mktops.dispatch import publish_events_ingested
from mktops.models import (
    Device,
    EventName,
    EventType,
    IngestCounter,
    Platform,
    SentEvent,
    SentMessage,
    Tenant,
    UserAttributeName,
)

Str255 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
Str128 = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)]
Uuid = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Text = Annotated[str, StringConstraints(max_length=1_000_000)]

EMAIL_PATTERN = r"^$|^[^@\s]+@[^@\s]+\.[^@\s]+$"  # empty: not given
RULE_EMAIL = "must be an email address such as name@example.com"
PHONE_STRIP_RE = re.compile(r"[\s().-]")
PHONE_RE = re.compile(r"^\+?[0-9]{4,20}$")
# 2001-09-09 .. 2286-11-20: epoch seconds, not milliseconds
MIN_EPOCH, MAX_EPOCH = 1_000_000_000, 9_999_999_999
# attributes deeper than this are not customer data but a mistake (or an
# attack on the recursion of whatever reads them later)
MAX_DEPTH = 32
RULE_NUL = "must not contain the NUL character (\\u0000)"
RULE_HEADER_LINE = "must be one header line: no carriage return or line feed (\\r, \\n)"
RULE_DEPTH = f"is nested deeper than {MAX_DEPTH} levels"
# the keys of one event's attribute objects, each at most MKTOPS_API_MAX_ATTRIBUTES: one event
# with 260,000 keys (under the byte limit) became as many catalogue names
ATTRIBUTE_FIELDS = ("user_attributes", "event_attributes", "device_attributes")
RULE_ATTRIBUTES = "has more than {limit} keys, the most one event may carry (MKTOPS_API_MAX_ATTRIBUTES)"
# a tenant's catalogues (the names the admin's pickers offer) are capped: a new name beyond
# the cap rejects its event; events with names already known are still accepted
RULE_EVENT_NAMES = ("is a new event name, and the tenant has reached {limit} event names, the most it may have "
                    "(MKTOPS_API_MAX_EVENT_NAMES); events with its known names are still accepted")
RULE_ATTRIBUTE_NAMES = ("is a new user attribute name, and the tenant has reached {limit} attribute names, the "
                        "most it may have (MKTOPS_API_MAX_ATTRIBUTE_NAMES); events with its known names are "
                        "still accepted")
# optional fields a sender may give as null, meaning "not given"
NULLABLE = ("event_type", "event_source", "user_attributes", "event_attributes", "device_attributes",
            "email_id", "mobile_number", "push_id", "message")


def normalise_mobile(raw: str) -> str:
    """The stored form of a phone number (digits, optional leading +), or "" if `raw` is not one."""
    digits = PHONE_STRIP_RE.sub("", raw.strip())
    return digits if PHONE_RE.match(digits) else ""


class Attachment(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, StringConstraints(min_length=1, max_length=255)]
    size: int = Field(ge=0, description="bytes")
    content_type: str | None = None


class EmailMessage(BaseModel):
    """The email as sent. `html` and/or `text` carry the body."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    from_: str = Field(alias="from", min_length=1, max_length=998)
    to: str | list[str]
    subject: str = Field(default="", max_length=998)
    html: Text = ""
    text: Text = ""
    headers: dict[str, str] = Field(default_factory=dict)
    attachments: list[Attachment] = Field(default_factory=list)
    cc: list[str] = Field(default_factory=list)
    reply_to: str | None = None

    # a line break in a header value would end the header (header injection), and the
    # archive could not write the .eml: refused here, with the field, not lost later
    @field_validator("from_", "to", "subject", "cc", "reply_to", "headers")
    @classmethod
    def _one_header_line(cls, v):
        parts = [*v, *v.values()] if isinstance(v, dict) else v if isinstance(v, list) else [v or ""]
        if any("\r" in part or "\n" in part for part in parts):
            raise ValueError(RULE_HEADER_LINE)
        return v


class SmsMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str = Field(min_length=1, max_length=32)
    sender: str = Field(min_length=1, max_length=64)
    body: Text


class PushMessage(BaseModel):
    model_config = ConfigDict(extra="forbid")
    platform: Literal["android", "ios", "web"]
    token: str = Field(min_length=1, max_length=4096)
    title: str = Field(default="", max_length=1000)
    body: Text = ""
    data: dict[str, Any] = Field(default_factory=dict)


MESSAGE_MODELS = {"email": EmailMessage, "sms": SmsMessage, "push": PushMessage}


class EventIn(BaseModel):
    """One event, in the shape of an exported event."""

    model_config = ConfigDict(extra="forbid")

    uid: Str255
    event_code: Str128
    event_name: Str255
    event_uuid: Uuid
    event_time: int | float = Field(description="epoch seconds, UTC")
    event_type: Literal["USER_ACTION_EVENT", "CAMPAIGN_EVENT"] = "USER_ACTION_EVENT"
    event_source: Annotated[str, StringConstraints(max_length=64)] = "API"
    user_attributes: dict[str, Any] = Field(default_factory=dict)
    event_attributes: dict[str, Any] = Field(default_factory=dict)
    device_attributes: dict[str, Any] = Field(default_factory=dict)
    # checked and lowered inside pydantic-core: a Python validator per event cost
    # more than the rest of the field checks together; _first_error words the rule
    email_id: Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, max_length=320,
                                               pattern=EMAIL_PATTERN)] = ""
    mobile_number: Annotated[str, StringConstraints(strip_whitespace=True, max_length=32)] = ""
    push_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=512)] = ""
    message: dict[str, Any] | None = Field(
        default=None,
        description=(
            "The content of the message a sent event reports: for Email Sent an EmailMessage, "
            "for SMS Sent an SmsMessage, for the Notification events a PushMessage."
        ),
    )

    @model_validator(mode="before")
    @classmethod
    def _null_means_absent(cls, data):
        # `None in values()` first: it runs in C, and most events hold no null
        if isinstance(data, dict) and None in data.values() and any(data.get(k, 0) is None for k in NULLABLE):
            return {k: v for k, v in data.items() if not (v is None and k in NULLABLE)}
        return data

    @field_validator("event_time", mode="before")
    @classmethod
    def _epoch_seconds(cls, v):
        # checked before pydantic's own coercion: "1790000000" or true are not times
        if isinstance(v, bool) or not isinstance(v, int | float):
            raise ValueError("must be a number: epoch seconds")
        if not MIN_EPOCH <= v <= MAX_EPOCH:
            raise ValueError(
                "must be epoch seconds between 1000000000 and 9999999999 (milliseconds are not accepted)"
            )
        return v

    @field_validator("mobile_number")
    @classmethod
    def _mobile(cls, v):
        if not v:
            return v
        digits = normalise_mobile(v)
        if not digits:
            raise ValueError("must be a phone number of 4 to 20 digits, optionally starting with +")
        return digits


class ShapeError(ValueError):
    """The body as a whole is not a batch of events; the text says why."""


@dataclass
class Rejection:
    index: int
    field: str
    rule: str


@dataclass
class IngestOutcome:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    event_ids: list[int] = field(default_factory=list)


def parse_batch(data, *, max_events: int) -> list:
    """The `events` list of a body parsed as JSON, or ShapeError saying what is wrong with it."""
    if not isinstance(data, dict) or "events" not in data:
        raise ShapeError('The body must be a JSON object with an "events" list.')
    if set(data) - {"events"}:
        raise ShapeError(f'Unknown top-level field(s): {", ".join(sorted(set(data) - {"events"}))}; '
                         'the body must be {"events": [...]}.')
    events = data["events"]
    if not isinstance(events, list):
        raise ShapeError('"events" must be a list of event objects.')
    if len(events) > max_events:
        raise TooLarge(f"The batch holds {len(events)} events; the limit is {max_events} per request.")
    return events


class TooLarge(ValueError):
    pass


# pydantic names the member of a union that failed (`to.str`, `to.list[str]`);
# the sender only needs the field
_UNION_TAG = re.compile(r"^(str|int|float|bool|list\[.*\]|dict\[.*\]|constrained-.*|function-.*)$")


def _first_error(exc: ValidationError) -> tuple[str, str]:
    err = exc.errors(include_url=False)[0]
    loc = [str(p) for p in err["loc"] if p != "__root__" and not _UNION_TAG.match(str(p))]
    msg = err["msg"]
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, "):]
    if err["type"] == "extra_forbidden":
        msg = "is not a known field"
    if err["type"] == "missing":
        msg = "is required"
    if err["type"] == "string_pattern_mismatch" and loc[-1:] == ["email_id"]:
        msg = RULE_EMAIL
    return ".".join(loc) or "event", msg


def _unsafe_value(item: dict) -> tuple[str, str] | None:
    """(field, rule) for a NUL character or too deep nesting anywhere in the item.

    PostgreSQL refuses NUL in text and JSON, so such an event would fail the
    whole batch at INSERT; it is rejected here instead. The recursion is
    bounded by MAX_DEPTH, whatever depth the sender chose.
    """
    found = _unsafe_in(item, 0)
    if found is None:
        return None
    path, rule = found
    return ".".join(reversed(path)) or "event", rule


def _unsafe_in(value: dict | list, depth: int) -> tuple[list[str], str] | None:
    # the path is built only on the way back from a finding (reversed): the
    # common case, a clean event, allocates nothing
    if depth > MAX_DEPTH:
        return [], RULE_DEPTH
    if isinstance(value, dict):
        for key in value:
            if "\x00" in key:
                return [], RULE_NUL
        children = value.items()
    else:
        children = enumerate(value)
    for key, child in children:
        if isinstance(child, str):
            if "\x00" in child:
                return [str(key)], RULE_NUL
        elif isinstance(child, dict | list):
            found = _unsafe_in(child, depth + 1)
            if found is not None:
                found[0].append(str(key))
                return found
    return None


def _crowded(item: dict, limit: int) -> tuple[str, str] | None:
    """(field, rule) when one of the item's attribute objects has more than `limit` keys."""
    for name in ATTRIBUTE_FIELDS:
        value = item.get(name)
        if isinstance(value, dict) and len(value) > limit:
            return name, RULE_ATTRIBUTES.format(limit=limit)
    return None


def _message_error(ev: EventIn) -> tuple[str, str] | None:
    """(field, rule) when the event's `message` does not fit its event name."""
    channel = SentEvent.channel_of(ev.event_name)
    if channel is None:
        return "message", "only sent events carry a message (" + ", ".join(SentEvent.CHANNELS) + ")"
    kind, platform = channel
    try:
        MESSAGE_MODELS[kind].model_validate(ev.message)
    except ValidationError as exc:
        field_name, rule = _first_error(exc)
        return ("message" if field_name == "event" else f"message.{field_name}"), rule
    if platform and ev.message["platform"] != platform:
        return "message.platform", f"must be {platform!r} for {ev.event_name!r}"
    return None


def _validate_clean_batch(items: list) -> list[tuple[int, EventIn]] | None:
    """All items validated in one pydantic call, or None when any item needs a closer look.

    Most batches are clean; validating the list at once saves the per-call cost
    of a thousand calls. Anything unusual (a message, NUL, nesting, an error)
    goes item by item, so the answer names each rejected one."""
    limit = settings.MKTOPS_API_MAX_ATTRIBUTES
    for item in items:
        if (not isinstance(item, dict) or item.get("message") is not None or _crowded(item, limit)
                or _unsafe_value(item)):
            return None
    try:
        return list(enumerate(_BATCH.validate_python(items)))
    except ValidationError:
        return None


def validate_item(item) -> EventIn | tuple[str, str]:
    """The validated event, or (field, rule) saying why it is rejected."""
    if not isinstance(item, dict):
        return "event", "must be a JSON object"
    # counted first: cheaper than walking (or validating) a crowded object
    crowded = _crowded(item, settings.MKTOPS_API_MAX_ATTRIBUTES)
    if crowded:
        return crowded
    unsafe = _unsafe_value(item)
    if unsafe:
        return unsafe
    try:
        ev = EventIn.model_validate(item)
    except ValidationError as exc:
        return _first_error(exc)
    if ev.message is not None:
        return _message_error(ev) or ev
    return ev


_BATCH = TypeAdapter(list[EventIn])


def validate_items(items: list) -> tuple[list[tuple[int, EventIn]], list[Rejection]]:
    fast = _validate_clean_batch(items)
    if fast is not None:
        return fast, []
    valid, rejected = [], []
    for index, item in enumerate(items):
        result = validate_item(item)
        if isinstance(result, EventIn):
            valid.append((index, result))
        else:
            rejected.append(Rejection(index, *result))
    return valid, rejected


def _platform_of(ev: EventIn) -> str | None:
    raw = str(ev.device_attributes.get("platform", "")).upper()
    if raw in Platform.values:
        return raw
    channel = SentEvent.channel_of(ev.event_name)
    if channel and channel[1]:
        return channel[1].upper()
    if ev.message and ev.message.get("platform"):
        return str(ev.message["platform"]).upper()
    return None


@dataclass(slots=True)
class ContactChange:
    """What a batch's events say of one contact, applied in order: their user
    attributes merged (later ones win), the last email and mobile number given."""

    attributes: dict = field(default_factory=dict)
    email: str = ""
    mobile_number: str = ""


def contact_changes(events) -> dict[str, ContactChange]:
    """{uid: its ContactChange}, in order of first appearance. Worked out before
    the writer's lock is taken, so that under it each contact is merged once."""
    changes: dict[str, ContactChange] = {}
    for ev in events:
        change = changes.get(ev.uid)
        if change is None:
            change = changes[ev.uid] = ContactChange()
        if ev.user_attributes:
            change.attributes.update(ev.user_attributes)
        if ev.email_id:
            change.email = ev.email_id
        if ev.mobile_number:
            change.mobile_number = ev.mobile_number
    return changes


def _upsert_contacts(tenant: Tenant, changes: dict[str, ContactChange]) -> dict[str, fastwrite.ContactRow]:
    """Create or update each contact once, with what the batch's events say of it."""
    contacts = fastwrite.load_contacts(tenant.pk, list(changes))
    new, renamed, reattributed = [], [], []
    for uid, change in changes.items():
        c = contacts.get(uid)
        if c is None:
            c = contacts[uid] = fastwrite.ContactRow(pk=None, uid=uid)
            new.append(c)
        attributes = {**c.attributes, **change.attributes} if change.attributes else c.attributes
        email = change.email or c.email
        mobile = change.mobile_number or c.mobile_number
        if c.pk is not None:
            if (email, mobile) != (c.email, c.mobile_number):
                renamed.append(c)
            elif attributes != c.attributes:
                reattributed.append(c)
        c.email, c.mobile_number, c.attributes = email, mobile, attributes
    if new:
        fastwrite.insert_contacts(tenant, new)
    if renamed or reattributed:
        fastwrite.update_contacts(renamed, reattributed)
    return contacts


def _upsert_devices(contacts: dict[str, fastwrite.ContactRow], events: list[EventIn]) -> None:
    wanted = {}
    for ev in events:
        platform = _platform_of(ev) if ev.push_id else None
        if platform:
            wanted[(contacts[ev.uid].pk, ev.push_id)] = platform
    if not wanted:
        return
    now = clock.now()
    # a token seen again is the same device: refresh when it was last seen
    Device.objects.bulk_create(
        [Device(contact_id=cid, push_token=token, platform=p, last_seen_at=now)
         for (cid, token), p in wanted.items()],
        update_conflicts=True, unique_fields=["contact", "push_token"],
        update_fields=["platform", "last_seen_at"],
    )


# {(catalogue model, tenant id): names this process knows are in it}. Names are
# only ever added (a tenant's go with the tenant), so a batch looks up only the
# names it has not seen before: most batches then ask the database nothing.
# Remembered after commit, so a batch that rolls back teaches nothing.
_known_names: dict[tuple[type, int], set[str]] = {}
KNOWN_NAMES_LIMIT = 10_000  # per tenant and catalogue; beyond it forgotten and learned again


@dataclass
class _Catalogue:
    """One of the tenant's catalogues as a batch meets it, under the tenant's lock."""

    model: type[EventName | UserAttributeName]
    known: set[str]  # this process's memory of the names stored
    stored: set[str]  # of the batch's names not in memory, those the database holds
    new: set[str]  # the batch's names the catalogue does not hold
    room: int  # how many more it may take
    admitted: set[str] = field(default_factory=set)

    def unadmitted(self, names) -> list[str]:
        return [n for n in names if n in self.new and n not in self.admitted]

    def fits(self, names: list[str]) -> bool:
        return len(self.admitted) + len(set(names)) <= self.room

    def store(self, tenant: Tenant) -> None:
        if self.admitted:
            fastwrite.insert_names(self.model, tenant.pk, list(self.admitted))
        learned = self.stored | self.admitted
        if learned:
            transaction.on_commit(lambda: _remember(self.known, learned))


def _catalogue(model: type[EventName | UserAttributeName], tenant: Tenant, names: set[str], cap: int) -> _Catalogue:
    known = _known_names.setdefault((model, tenant.pk), set())
    unseen = names - known
    stored = fastwrite.stored_names(model, tenant.pk, list(unseen)) if unseen else set()
    new = unseen - stored
    room = cap - fastwrite.count_names(model, tenant.pk) if new else 0
    return _Catalogue(model, known, stored, new, room)


def _attribute_names(ev: EventIn):
    return (k[:255] for k in ev.user_attributes)


def _admit_names(tenant: Tenant, events: list[EventIn]) -> tuple[list[EventIn], list[tuple[EventIn, str, str]]]:
    """Adds the events' new names to the tenant's catalogues, up to their caps; returns the
    events kept and, for each event whose new name did not fit, (event, field, rule).
    Events are taken in order: an event refused never costs one before it."""
    event_cap, attribute_cap = settings.MKTOPS_API_MAX_EVENT_NAMES, settings.MKTOPS_API_MAX_ATTRIBUTE_NAMES
    event_names = _catalogue(EventName, tenant, {ev.event_name for ev in events}, event_cap)
    attributes = _catalogue(UserAttributeName, tenant, {n for ev in events for n in _attribute_names(ev)},
                            attribute_cap)
    kept, refused = events, []
    if len(event_names.new) <= event_names.room and len(attributes.new) <= attributes.room:
        event_names.admitted, attributes.admitted = event_names.new, attributes.new  # the usual case
    else:
        kept = []
        for ev in events:
            # the platform's own sent events are always admitted: their messages are archived
            new_event = [] if ev.event_name in SentEvent.CHANNELS else event_names.unadmitted([ev.event_name])
            new_attributes = attributes.unadmitted(_attribute_names(ev))
            if not event_names.fits(new_event):
                refused.append((ev, "event_name", RULE_EVENT_NAMES.format(limit=event_cap)))
            elif not attributes.fits(new_attributes):
                over = new_attributes[max(0, attributes.room - len(attributes.admitted))]
                refused.append((ev, f"user_attributes.{over}", RULE_ATTRIBUTE_NAMES.format(limit=attribute_cap)))
            else:
                event_names.admitted.update(new_event)
                attributes.admitted.update(new_attributes)
                kept.append(ev)
        event_names.admitted.update(ev.event_name for ev in kept
                                    if ev.event_name in SentEvent.CHANNELS and ev.event_name in event_names.new)
    event_names.store(tenant)
    attributes.store(tenant)
    return kept, refused


def _remember(known: set[str], names: set[str]) -> None:
    if len(known) + len(names) > KNOWN_NAMES_LIMIT:
        known.clear()
    known.update(names)


def forget_known_names() -> None:
    """Empties the memory of catalogue names (tests: a tenant id may come again)."""
    _known_names.clear()


def _campaign_id(ev: EventIn) -> str:
    value = ev.event_attributes.get("campaign_id")
    return "" if value is None else str(value)[:128]


def events_ingest(*, tenant: Tenant, items: list) -> IngestOutcome:
    """Validate `items` one by one and store the valid, new ones in one transaction."""
    valid, rejected = validate_items(items)
    outcome = IngestOutcome(rejected=rejected)
    if not valid:
        return outcome
    fresh: dict[str, EventIn] = {}
    index_of: dict[str, int] = {}
    for index, ev in valid:
        if ev.event_uuid in fresh:
            outcome.duplicates += 1
        else:
            fresh[ev.event_uuid] = ev
            index_of[ev.event_uuid] = index
    # encoded before the write lock is taken: on SQLite the lock serialises
    # every writer, so only what needs the database happens while holding it
    tails = _encode_tails(fresh.values())
    changes = contact_changes(fresh.values())
    try:
        IngestCounter.objects.get_or_create(tenant=tenant)
    except IntegrityError:  # the tenant was deleted since the key was checked
        raise TenantGone from None
    with fastwrite.batch_transaction():
        counter = _lock_counter(tenant)
        events = list(fresh.values())
        try:
            # optimistic: most batches repeat no stored event, and the unique
            # (tenant, event_uuid) index finds out for free while inserting;
            # only a batch that does repeat one pays for looking them up
            with transaction.atomic():
                events, ids, refused = _store(tenant, counter, events, tails, changes)
        except IntegrityError:
            existing = fastwrite.existing_uuids(tenant.pk, list(fresh))
            outcome.duplicates += len(existing)
            events = [ev for uuid, ev in fresh.items() if uuid not in existing]
            if not events:
                return outcome
            events, ids, refused = _store(tenant, counter, events, tails, contact_changes(events))
        if refused:
            outcome.rejected = sorted(
                [*outcome.rejected, *(Rejection(index_of[ev.event_uuid], f, r) for ev, f, r in refused)],
                key=lambda r: r.index)
        outcome.accepted, outcome.event_ids = len(events), ids
        if not events:
            return outcome
        message_ids = _store_messages(tenant, counter, events, ids)
    # after the writer's turn: the receivers run on their own time, not the next batch's
    sent_ids = [i for i, ev in zip(ids, events, strict=True) if ev.event_name in SentEvent.CHANNELS]
    publish_events_ingested(tenant=tenant, event_ids=ids, message_event_ids=message_ids, sent_event_ids=sent_ids)
    return outcome


class TenantGone(Exception):
    """The tenant was deleted while its batch was on the way in; nothing was stored."""


def _lock_counter(tenant: Tenant) -> IngestCounter:
    # holding the counter row until commit makes sequence order = commit order;
    # Tenant.delete takes it too, so a deletion waits for the batch or the
    # batch finds the tenant gone
    try:
        return IngestCounter.objects.select_for_update().get(pk=tenant.pk)
    except IngestCounter.DoesNotExist:
        raise TenantGone from None


def _encode_tails(events) -> dict[str, tuple | str]:
    """{event_uuid: the event's tail, as fastwrite.insert_tails takes it}."""
    now, encode = clock.now(), fastwrite.tail_encoder()
    return {
        ev.event_uuid: encode((
            ev.uid, ev.event_type, ev.event_code, ev.event_name, ev.event_uuid,
            datetime.fromtimestamp(ev.event_time, tz=UTC), ev.event_source or "API", ev.event_attributes,
            ev.user_attributes, ev.device_attributes, ev.email_id, ev.mobile_number, ev.push_id,
            _campaign_id(ev), now))
        for ev in events
    }


def _store(tenant: Tenant, counter: IngestCounter, events: list[EventIn], tails: dict[str, tuple | str],
           changes: dict[str, ContactChange]) -> tuple[list[EventIn], list[int], list[tuple[EventIn, str, str]]]:
    """Catalogue, contacts, devices and the events themselves, numbered from the counter;
    returns the events stored, their ids in order, and (event, field, rule) for each event
    refused by a catalogue's cap. `changes`: contact_changes(events)."""
    # first: an event refused for a new name changes no contact
    events, refused = _admit_names(tenant, events)
    if refused:
        changes = contact_changes(events)
    contacts = _upsert_contacts(tenant, changes)
    _upsert_devices(contacts, events)
    tenant_id = tenant.pk
    return events, fastwrite.insert_tails([
        (tenant_id, contacts[ev.uid].pk, seq, tails[ev.event_uuid])
        for seq, ev in enumerate(events, start=counter.last_seq + 1)
    ]), refused


def _store_messages(tenant: Tenant, counter: IngestCounter, events: list[EventIn], ids: list[int]) -> list[int]:
    """Moves the counter past the stored events and keeps their messages; returns the
    ids of the events with a message."""
    counter.last_seq += len(events)
    counter.save(update_fields=["last_seq"])
    messages = [
        SentMessage(event_id=event_id, tenant=tenant, content=ev.message, size=len(orjson.dumps(ev.message)))
        for event_id, ev in zip(ids, events, strict=True) if ev.message is not None
    ]
    if messages:
        SentMessage.objects.bulk_create(messages, batch_size=500)
    return [m.event_id for m in messages]


__all__ = ["EventIn", "EventType", "events_ingest", "parse_batch", "ShapeError", "TenantGone", "TooLarge"]
