"""Delivery analysis: which targets of a delivery are left out, and why.

A target is excluded when its contact is on the channel's blocklist (an opt-out: it wins over
everything, an allowlisted address too), else when its address is Quarantined or On denylist.
Allowlisted and valid addresses, and addresses quarantine has never heard of, are to be sent.

Fast and flat: the targets are read as an iterable, CHUNK at a time. A chunk of common targets
only (a uid and an address already in normal form, most of them) is checked whole, in a few calls
in C; any other is normalised item by item (quarantine.addresses.normalise). Only the answer grows
with the targets: the excluded ones and the rejected ones. Then, as measured fastest on each
database (bench/analysis.py):

- PostgreSQL, a large analysis (MEMORY_FROM_TARGETS targets or more) of a channel whose lists fit
  in memory: the excluding entries and the blocklist are read once, each chunk is matched in
  Python and its exclusions are COPYed into the log at once, the database writing them while the
  next chunks are prepared;
- PostgreSQL, any other: the chunks are COPYed into a temporary table, and one statement joins it
  to the entries and the blocklist, writes the exclusion log and returns the excluded;
- SQLite: the lists in memory as on PostgreSQL for a large analysis, else each chunk looked up
  with one indexed query (a JSON list as its one parameter), outside the write lock either way;
  the log is then written with executemany in one short transaction with the delivery's counts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain, compress, islice
from operator import itemgetter

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import F

from mktops import clock
from mktops.fastwrite import one_of_sql, sqlite_datetime
from quarantine.addresses import MAX_ADDRESS, all_already_normal, already_normal, normalise
from quarantine.models import (
    BlocklistEntry,
    Channel,
    Delivery,
    DeliveryExclusion,
    ExclusionReason,
    QuarantineEntry,
    Status,
)

CHUNK = 10_000
MAX_UID = 255
MAX_DELIVERY_ID = 100

ERR_CHANNEL = "The channel is one of email, sms, push."
ERR_DELIVERY_ID = f"A delivery id is 1 to {MAX_DELIVERY_ID} characters, none of them NUL."
ERR_CHANNEL_CHANGED = "This delivery was analysed for {channel} before; a delivery has one channel."
RULE_TARGET = "must be a JSON object with uid and address"
RULE_UID = f"must be a non-empty string of at most {MAX_UID} characters"
RULE_NUL = "must not contain the NUL character (\\u0000)"
RULE_UNKNOWN_FIELD = "is not a known field (a target has uid and address)"

# checked in this order: an opt-out is the contact's (legal) choice and wins
REASONS = (ExclusionReason.BLOCKLISTED, ExclusionReason.DENYLISTED, ExclusionReason.QUARANTINED)
EXCLUDING_STATUSES = (Status.QUARANTINED.value, Status.DENYLISTED.value)


@dataclass(slots=True)
class Rejection:
    index: int
    field: str
    rule: str


@dataclass
class AnalysisOutcome:
    delivery: Delivery
    targets: int = 0
    to_send: int = 0
    counts: dict = field(default_factory=lambda: {r.value: 0 for r in REASONS})
    # (index, uid, address as given, normalised address, reason)
    excluded: list[tuple[int, str, str, str, str]] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)


def check_request(*, delivery_id: str, channel: str) -> None:
    """ValidationError naming the field when the delivery id or channel cannot be analysed."""
    if (not isinstance(delivery_id, str) or not 0 < len(delivery_id.strip()) <= MAX_DELIVERY_ID
            or "\x00" in delivery_id):
        raise ValidationError({"delivery_id": ERR_DELIVERY_ID})
    if channel not in Channel.values:
        raise ValidationError({"channel": ERR_CHANNEL})


def delivery_analyse(*, tenant, delivery_id: str, channel: str, targets: Iterable) -> AnalysisOutcome:
    """Analyse `targets` ({"uid", "address"} dicts, or (uid, address) pairs) for a delivery:
    the excluded ones with their reason, the rest to be sent; bad items are rejected by index
    and the others answered. Each exclusion is logged against the delivery."""
    check_request(delivery_id=delivery_id, channel=channel)
    delivery_id = delivery_id.strip()
    existing = Delivery.objects.filter(tenant=tenant, delivery_id=delivery_id).values_list("channel", flat=True)
    if existing and existing[0] != channel:
        raise ValidationError({"channel": ERR_CHANNEL_CHANGED.format(channel=existing[0])})
    outcome = AnalysisOutcome(delivery=None)
    if connection.vendor == "postgresql":
        with transaction.atomic():
            delivery = _delivery(tenant=tenant, delivery_id=delivery_id, channel=channel)
            _analyse_in_postgres(tenant.pk, channel, targets, outcome, delivery.pk)
            outcome.delivery = _count(delivery=delivery, outcome=outcome)
        return outcome
    with connection.cursor() as cursor:
        items, lists = _read_ahead(cursor, tenant.pk, channel, targets)
    start = 0
    if lists is not None:
        while chunk := list(islice(items, CHUNK)):
            outcome.excluded.extend(_match_chunk(chunk, start, channel, outcome, *lists))
            start += len(chunk)
    else:
        lookup = _Lookup(tenant.pk, channel)
        while chunk := list(islice(items, CHUNK)):
            _analyse_chunk(lookup, _prepare(chunk, start, channel, outcome), outcome)
            start += len(chunk)
    # SQLite has one writer at a time: the lookups above ran outside the write lock
    with transaction.atomic():
        delivery = _delivery(tenant=tenant, delivery_id=delivery_id, channel=channel)
        _write_log(delivery.pk, tenant.pk, outcome.excluded, clock.now())
        outcome.delivery = _count(delivery=delivery, outcome=outcome)
    return outcome


def _prepare(chunk: list, start: int, channel: str, outcome: AnalysisOutcome) -> list[tuple]:
    """(index, uid, given address, normalised address) of each good target of the chunk; bad ones
    go to `outcome.rejected` with their index, field and rule. The analysis's hot path (a million
    targets pass here): a chunk of common items only is taken whole (_common_columns), any other
    item by item."""
    columns = _common_columns(chunk, channel)
    if columns is not None:
        uids, addresses = columns
        return list(zip(range(start, start + len(chunk)), uids, addresses, addresses, strict=True))
    return _prepare_each(chunk, start, channel, outcome)


_UID, _ADDRESS, _FIRST, _SECOND = itemgetter("uid"), itemgetter("address"), itemgetter(0), itemgetter(1)


def _common_columns(chunk: list, channel: str) -> tuple[list, list] | None:
    """(uids, addresses) when every target of the chunk is the common one, the one _prepare_each
    takes without a rejection nor normalise() (a dict of exactly uid and address, or a pair; a
    uid with 1 to 255 characters once stripped, no NUL; an address in normal form already), None
    otherwise. A few passes in C over the chunk instead of a dozen bytecodes per target."""
    all_normal = all_already_normal(channel)
    if all_normal is None or not chunk:
        return None
    kinds = set(map(type, chunk))
    if not (kinds == {dict} or kinds <= {tuple, list}) or set(map(len, chunk)) != {2}:
        return None
    try:
        if kinds == {dict}:
            uids, addresses = list(map(_UID, chunk)), list(map(_ADDRESS, chunk))
        else:
            uids, addresses = list(map(_FIRST, chunk)), list(map(_SECOND, chunk))
    except KeyError:  # a dict of two other keys
        return None
    if set(map(type, uids)) != {str}:
        return None
    uids = list(map(str.strip, uids))
    if not all(uids) or max(map(len, uids)) > MAX_UID or "\x00" in "".join(uids) or not all_normal(addresses):
        return None
    return uids, addresses


def _prepare_each(chunk: list, start: int, channel: str, outcome: AnalysisOutcome) -> list[tuple]:
    """_prepare, item by item: the common item, a dict of two strings with an address already in
    normal form, costs two lookups and a few checks in C; the others are normalised."""
    good, norm = [], normalise
    append = good.append
    # most addresses are already in normal form: a check in C, not the normalisation's calls
    normal = already_normal(channel) or _never
    for index, item in enumerate(chunk, start):
        if type(item) is dict and len(item) == 2:
            uid, address = item.get("uid"), item.get("address")
        elif type(item) in (tuple, list) and len(item) == 2:
            uid, address = item
        else:
            _reject_shape(index, item, outcome)
            continue
        uid = uid.strip() if type(uid) is str else None
        if not uid or len(uid) > MAX_UID or "\x00" in uid:
            outcome.rejected.append(Rejection(index, "uid", RULE_NUL if uid and "\x00" in uid else RULE_UID))
            continue
        if type(address) is str and len(address) <= MAX_ADDRESS and normal(address):  # no NUL either
            append((index, uid, address, address))
            continue
        if type(address) is str and "\x00" in address:
            # PostgreSQL refuses NUL in text: the item is rejected, not the request
            outcome.rejected.append(Rejection(index, "address", RULE_NUL))
            continue
        try:
            normalised = norm(channel, address)
        except ValidationError as exc:
            outcome.rejected.append(Rejection(index, "address", _first_message(exc)))
            continue
        append((index, uid, address, normalised))
    return good


def _never(address: str) -> bool:
    return False


def _reject_shape(index: int, item, outcome: AnalysisOutcome) -> None:
    if isinstance(item, dict):
        extra = sorted(str(k) for k in set(item) - {"uid", "address"})
        if extra:
            outcome.rejected.append(Rejection(index, extra[0], RULE_UNKNOWN_FIELD))
            return
        missing = "uid" if "uid" not in item else "address"
        outcome.rejected.append(Rejection(index, missing, RULE_UID if missing == "uid" else "is required"))
        return
    outcome.rejected.append(Rejection(index, "target", RULE_TARGET))


def _first_message(exc: ValidationError) -> str:
    for messages in exc.message_dict.values():
        return messages[0]
    return "is not valid"


# a blocklist this small is read once per analysis, not looked up chunk by chunk: a set of
# 50,000 uids is a few MB, whatever the number of targets
BLOCKLIST_IN_MEMORY = 50_000


class _Lookup:
    """SQLite: the indexed lookups of one chunk, for one tenant and channel."""

    def __init__(self, tenant_id: int, channel: str):
        self.tenant_id, self.channel = tenant_id, channel
        entries = BlocklistEntry.objects.filter(tenant_id=tenant_id, channel=channel)
        uids = list(entries.values_list("uid", flat=True)[:BLOCKLIST_IN_MEMORY + 1])
        # None: too many to hold, looked up per chunk
        self.blocklist: set[str] | None = set(uids) if len(uids) <= BLOCKLIST_IN_MEMORY else None

    def excluding_statuses(self, addresses: list[str]) -> dict[str, str]:
        """address → status for those of `addresses` that are Quarantined or On denylist."""
        condition, param = one_of_sql("address", addresses)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT address, status FROM {QuarantineEntry._meta.db_table} "  # noqa: S608 - fixed names
                f"WHERE tenant_id = %s AND channel = %s AND {condition} AND status IN (%s, %s)",
                [self.tenant_id, self.channel, param, *EXCLUDING_STATUSES])
            return dict(cursor.fetchall())

    def blocklisted(self, uids: list[str]) -> set[str]:
        if self.blocklist is not None:
            return self.blocklist
        condition, param = one_of_sql("uid", uids)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT uid FROM {BlocklistEntry._meta.db_table} "  # noqa: S608 - fixed names
                f"WHERE tenant_id = %s AND channel = %s AND {condition}",
                [self.tenant_id, self.channel, param])
            return {row[0] for row in cursor.fetchall()}


def _analyse_chunk(lookup: _Lookup, chunk: list[tuple], outcome: AnalysisOutcome) -> None:
    outcome.targets += len(chunk)
    if not chunk:
        return
    statuses = lookup.excluding_statuses(list({target[3] for target in chunk}))
    blocked = lookup.blocklisted(list({target[1] for target in chunk}) if lookup.blocklist is None else [])
    if not statuses and not blocked:
        return
    counts, excluded, get = outcome.counts, outcome.excluded.append, statuses.get
    blocklisted = ExclusionReason.BLOCKLISTED.value
    for target in chunk:
        if target[1] in blocked:
            reason = blocklisted
        else:
            reason = get(target[3])
            if reason is None:
                continue
        counts[reason] += 1
        excluded((*target, reason))


# --- the exclusion log and the delivery's counts --------------------------------------------
LOG_COLUMNS = ("delivery_id", "tenant_id", "uid", "address", "reason", "analysed_at")
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _delivery(*, tenant, delivery_id: str, channel: str) -> Delivery:
    now = clock.now()
    delivery, _ = Delivery.objects.get_or_create(
        tenant=tenant, delivery_id=delivery_id,
        defaults={"channel": channel, "first_analysed_at": now, "last_analysed_at": now})
    return delivery


def _count(*, delivery: Delivery, outcome: AnalysisOutcome) -> Delivery:
    """Adds this analysis to the delivery's counts (in the database: requests may run at once)."""
    outcome.to_send = outcome.targets - len(outcome.excluded)
    counts = outcome.counts
    Delivery.objects.filter(pk=delivery.pk).update(
        analyses=F("analyses") + 1, targets=F("targets") + outcome.targets + len(outcome.rejected),
        to_send=F("to_send") + outcome.to_send, rejected=F("rejected") + len(outcome.rejected),
        quarantined=F("quarantined") + counts["quarantined"], denylisted=F("denylisted") + counts["denylisted"],
        blocklisted=F("blocklisted") + counts["blocklisted"], last_analysed_at=clock.now())
    delivery.refresh_from_db()
    return delivery


# --- PostgreSQL: the targets in a temporary table, one join --------------------------------------
# Measured (bench/analysis.py): a million index probes through `= ANY(array)` chunk by chunk
# took 2.7 times the plain SQL floor on PostgreSQL, whose planner hash-joins a temporary table
# far faster; on SQLite the chunked lookups were within 1.5 times and need no write lock.
_JOIN_SQL = """
WITH ex AS (
    SELECT t.i, t.uid, COALESCE(NULLIF(t.given, ''), t.address) AS given, t.address,
           CASE WHEN b.uid IS NOT NULL THEN 'blocklisted' ELSE e.status END AS reason
    FROM analysis_targets t
    LEFT JOIN {blocklist} b ON b.tenant_id = %(tenant)s AND b.channel = %(channel)s AND b.uid = t.uid
    LEFT JOIN {entries} e ON e.tenant_id = %(tenant)s AND e.channel = %(channel)s AND e.address = t.address
         AND e.status IN (%(quarantined)s, %(denylisted)s)
    WHERE b.uid IS NOT NULL OR e.address IS NOT NULL
), logged AS (
    INSERT INTO {log} (delivery_id, tenant_id, uid, address, reason, analysed_at)
    SELECT %(delivery)s, %(tenant)s, uid, address, reason, %(now)s FROM ex
)
SELECT i, uid, given, address, reason FROM ex
"""


def _analyse_in_postgres(tenant_id: int, channel: str, targets: Iterable, outcome: AnalysisOutcome,
                         delivery_pk: int) -> None:
    """In the caller's transaction: a large analysis matched in memory when the channel's lists
    are small enough to hold, any other through the join in the database."""
    with connection.cursor() as cursor:
        items, lists = _read_ahead(cursor, tenant_id, channel, targets)
        if lists is None:
            _join_in_postgres(cursor, tenant_id, channel, items, outcome, delivery_pk)
        else:
            _match_in_memory(cursor, tenant_id, channel, items, outcome, delivery_pk, *lists)


def _read_ahead(cursor, tenant_id: int, channel: str, targets: Iterable) -> tuple[Iterable, tuple | None]:
    """(the targets, the lists in memory or None): the lists when the analysis is large enough
    for them (see MEMORY_FROM_TARGETS), read ahead to know."""
    items = iter(targets)
    ahead = list(islice(items, MEMORY_FROM_TARGETS))
    lists = _lists_in_memory(cursor, tenant_id, channel) if len(ahead) >= MEMORY_FROM_TARGETS else None
    if lists is not None:
        needed = -(-(len(lists[0]) + len(lists[1])) // ENTRIES_PER_TARGET)
        ahead.extend(islice(items, max(0, needed - len(ahead))))
        if len(ahead) < needed:
            lists = None
    # the chain holds the targets read ahead until they are prepared, no longer
    return chain(ahead, items), lists


def _join_in_postgres(cursor, tenant_id: int, channel: str, items, outcome: AnalysisOutcome,
                      delivery_pk: int) -> None:
    """The good targets COPYed into a temporary table chunk by chunk, then one statement that
    joins, writes the exclusion log and returns the excluded."""
    start = 0
    cursor.execute("CREATE TEMP TABLE analysis_targets (i integer, uid text, given text, address text) "
                   "ON COMMIT DROP")
    with connection.wrap_database_errors, cursor.cursor.copy(
            "COPY analysis_targets (i, uid, given, address) FROM STDIN") as copy:
        while chunk := list(islice(items, CHUNK)):
            good = _prepare(chunk, start, channel, outcome)
            start += len(chunk)
            outcome.targets += len(good)
            copy.write(_copy_rows(good).encode())
    # not ANALYZEd (a tenth of a second per million): the planner sizes a table without statistics
    # from its pages, which gives the same plan, hash joins for many targets, index probes for few
    # the planner's estimate of the excluded rows is the whole table, which would have the join
    # compiled by JIT first: a quarter of a second, for a plan of two hash joins
    cursor.execute("SET LOCAL jit = off")
    # the hash of the entries in memory, not in batches on disk (the default 4 MB held 100,000);
    # a cap per hash, not a reservation
    cursor.execute("SET LOCAL work_mem = '64MB'")
    cursor.execute(_JOIN_SQL.format(blocklist=BlocklistEntry._meta.db_table,
                                    entries=QuarantineEntry._meta.db_table,
                                    log=DeliveryExclusion._meta.db_table),
                   {"tenant": tenant_id, "channel": channel, "quarantined": EXCLUDING_STATUSES[0],
                    "denylisted": EXCLUDING_STATUSES[1],
                    "delivery": delivery_pk, "now": clock.now()})
    counts, excluded = outcome.counts, outcome.excluded
    while rows := cursor.fetchmany(CHUNK):
        for row in rows:
            counts[row[4]] += 1
        excluded.extend(rows)
    # in the targets' order: sorted here, where it costs one pass over rows nearly in order
    # already, not by the database (a sort spilled to disk)
    excluded.sort()
    # dropped now, not only at commit: the caller's transaction may analyse again
    cursor.execute("DROP TABLE analysis_targets")


# --- a large analysis: the lists in memory ------------------------------------------------------
# The channel's excluding entries and blocklist are read into memory (the join reads every entry
# too, for its hash) when there are at most ENTRIES_IN_MEMORY and BLOCKLIST_IN_MEMORY of them and
# the analysis has at least MEMORY_FROM_TARGETS targets and one for every ENTRIES_PER_TARGET
# listed: each chunk is then matched in Python. On PostgreSQL its exclusions are COPYed into the
# log at once, so the database writes the log (with its indexes, the larger part of its work) on
# the other core while the next chunks are prepared, instead of after them all; on SQLite they
# replace the chunk's indexed lookups. Fewer targets keep the join or the lookups: their index
# probes cost less than reading every entry. Measured on PostgreSQL (200,000 entries, 160,000 of
# them excluding, targets as the API gives them, best of 3): 10,000 targets 0.11 s by the join,
# 0.19 s in memory; 50,000: 0.29 s and 0.31 s; 100,000: 0.47 s and 0.44 s. The lists are read once
# MEMORY_FROM_TARGETS targets are read ahead (in vain, at most once, when fewer targets follow than
# the lists ask for); the targets read ahead are at most (ENTRIES_IN_MEMORY + BLOCKLIST_IN_MEMORY)
# / ENTRIES_PER_TARGET, however many there are.
MEMORY_FROM_TARGETS = 50_000
ENTRIES_PER_TARGET = 2
# about 100 bytes each in a dict: 50 MB at most
ENTRIES_IN_MEMORY = 500_000


def _lists_in_memory(cursor, tenant_id: int, channel: str) -> tuple[dict, set] | None:
    """(address → status of the excluding entries, uids on the blocklist) of the tenant's channel,
    None when it has more than BLOCKLIST_IN_MEMORY uids or ENTRIES_IN_MEMORY entries (read no
    further)."""
    entries, blocklist = QuarantineEntry._meta.db_table, BlocklistEntry._meta.db_table
    postgres = connection.vendor == "postgresql"
    cursor.execute(f"SELECT {'array_agg(uid)' if postgres else 'uid'} FROM (SELECT uid FROM {blocklist} "  # noqa: S608
                   f"WHERE tenant_id = %s AND channel = %s LIMIT %s) b", [tenant_id, channel, BLOCKLIST_IN_MEMORY + 1])
    # unique per tenant and channel
    uids = set(cursor.fetchone()[0] or ()) if postgres else {uid for uid, in cursor}
    if len(uids) > BLOCKLIST_IN_MEMORY:
        return None
    excluding = f"FROM {entries} WHERE tenant_id = %s AND channel = %s AND status IN (%s, %s) LIMIT %s) e"
    params = [tenant_id, channel, *EXCLUDING_STATUSES, ENTRIES_IN_MEMORY + 1]
    if postgres:
        # one array a status: a value to read, not a row an entry
        cursor.execute(f"SELECT e.status, array_agg(e.address) FROM (SELECT address, status {excluding} "  # noqa: S608
                       "GROUP BY e.status", params)
        statuses = {}
        for status, addresses in cursor.fetchall():
            statuses.update(dict.fromkeys(addresses, status))  # an address has one entry a channel
    else:
        cursor.execute(f"SELECT address, status FROM (SELECT address, status {excluding}", params)  # noqa: S608
        statuses = dict(iter(cursor))  # row by row, not a list of them first
    if len(statuses) > ENTRIES_IN_MEMORY:
        return None
    return statuses, uids


def _match_in_memory(cursor, tenant_id: int, channel: str, items, outcome: AnalysisOutcome, delivery_pk: int,
                     statuses: dict, blocked: set) -> None:
    """Each chunk matched against the lists in memory, its exclusions answered and COPYed into the
    log while the database is still writing those of the chunks before."""
    start, excluded = 0, outcome.excluded
    head, stamp = f"{delivery_pk}\t{tenant_id}\t", clock.now().isoformat()
    with connection.wrap_database_errors, cursor.cursor.copy(
            f"COPY {DeliveryExclusion._meta.db_table} ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
        while chunk := list(islice(items, CHUNK)):
            found = _match_chunk(chunk, start, channel, outcome, statuses, blocked)
            start += len(chunk)
            if found:
                excluded.extend(found)
                copy.write(_log_rows(head, stamp, found).encode())


def _match_chunk(chunk: list, start: int, channel: str, outcome: AnalysisOutcome, statuses: dict,
                 blocked: set) -> list[tuple]:
    """The excluded targets of the chunk (index, uid, given, normalised, reason) by the lists in
    memory; counted in `outcome`, with the targets and the rejected."""
    blocklisted = ExclusionReason.BLOCKLISTED.value
    columns = _common_columns(chunk, channel)
    if columns is not None:
        # the common chunk, matched in C: a lookup an address, a selection of the excluded
        uids, addresses = columns
        outcome.targets += len(chunk)
        reasons = list(map(statuses.get, addresses))
        if blocked and not blocked.isdisjoint(uids):
            for k in compress(range(len(uids)), map(blocked.__contains__, uids)):
                reasons[k] = blocklisted
        found = [(start + k, uids[k], addresses[k], addresses[k], reasons[k])
                 for k in compress(range(len(reasons)), reasons)]
    else:
        good = _prepare_each(chunk, start, channel, outcome)
        outcome.targets += len(good)
        found = []
        for target in good:
            reason = blocklisted if target[1] in blocked else statuses.get(target[3])
            if reason is not None:
                found.append((*target, reason))
    counts = outcome.counts
    for reason in map(_REASON, found):
        counts[reason] += 1
    return found


_REASON = itemgetter(4)


def _log_rows(head: str, stamp: str, found: list[tuple]) -> str:
    """The exclusion log's rows of `found` as COPY text (`head`: the delivery and tenant columns)."""
    text = "".join([f"{head}{uid}\t{address}\t{reason}\t{stamp}\n" for _, uid, _, address, reason in found])
    if _nothing_to_escape(text, len(found), 6):
        return text
    return "".join([f"{head}{_copy_value(uid)}\t{_copy_value(address)}\t{reason}\t{stamp}\n"
                    for _, uid, _, address, reason in found])


def _write_log(delivery_pk: int, tenant_pk: int, excluded: list[tuple], now) -> None:
    if not excluded:
        return
    table = DeliveryExclusion._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            stamp = now.isoformat()
            head = f"{delivery_pk}\t{tenant_pk}\t"
            with connection.wrap_database_errors, cursor.cursor.copy(
                    f"COPY {table} ({', '.join(LOG_COLUMNS)}) FROM STDIN") as copy:
                for start in range(0, len(excluded), CHUNK):
                    copy.write("".join(
                        f"{head}{_copy_value(uid)}\t{_copy_value(address)}\t{reason}\t{stamp}\n"
                        for _, uid, _, address, reason in excluded[start:start + CHUNK]).encode())
            return
        stamp = sqlite_datetime(now)
        marks = ", ".join(["%s"] * len(LOG_COLUMNS))
        for start in range(0, len(excluded), CHUNK):
            cursor.executemany(
                f"INSERT INTO {table} ({', '.join(LOG_COLUMNS)}) VALUES ({marks})",  # noqa: S608 - fixed names
                [(delivery_pk, tenant_pk, uid, address, reason, stamp)
                 for _, uid, _, address, reason in excluded[start:start + CHUNK]])


def _copy_rows(rows: list[tuple]) -> str:
    """(index, uid, given, address) rows as COPY text; escaped only when a value needs it. The
    given address is sent empty when it is the normalised one (most are): a fifth less to copy."""
    text = "".join([f"{i}\t{uid}\t{'' if given == address else given}\t{address}\n"
                    for i, uid, given, address in rows])
    if _nothing_to_escape(text, len(rows), 4):
        return text
    return "".join([f"{i}\t{_copy_value(uid)}\t{'' if given == address else _copy_value(given)}\t"
                    f"{_copy_value(address)}\n" for i, uid, given, address in rows])


def _nothing_to_escape(text: str, rows: int, columns: int) -> bool:
    """The COPY text of `rows` rows of `columns` values holds no tab, newline, CR or backslash
    inside a value: the common case, checked in C over the whole chunk."""
    return (text.count("\t") == (columns - 1) * rows and text.count("\n") == rows and "\\" not in text
            and "\r" not in text)


def _copy_value(value: str) -> str:
    # the common case, nothing to escape, costs one scan in C
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value
