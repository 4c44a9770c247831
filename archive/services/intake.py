"""From ingested sent events to ArchivedMessage rows: queued, or skipped with a reason.

Called by the events_ingested receiver (one INSERT … SELECT per batch, sent events with or
without content) and by the sweeper, which finds sent events with content but no row (a
receiver that failed).
"""

from __future__ import annotations

from django.db import connection, transaction

from archive.models import ArchivedMessage, Outcome, SkipReason
from mktops import clock, fastwrite
from mktops.jobs import JobStatus
from mktops.models import Event, SentEvent, SentMessage, Tenant

MAX_CONTENT_BYTES = 250 * 1024
# the email's template as sent: its HTML (its text when it has no HTML), in bytes, read in the database
_TEMPLATE_BYTES = {
    "sqlite": ("length(CAST(COALESCE(NULLIF(json_extract(m.content, '$.html'), ''), "
               "json_extract(m.content, '$.text'), '') AS BLOB))"),
    "postgresql": "octet_length(COALESCE(NULLIF(m.content->>'html', ''), m.content->>'text', ''))",
}


def skip_reason_for(*, tenant: Tenant, channel: str, size: int) -> str:
    if not tenant.archive_enabled:
        return SkipReason.ARCHIVE_OFF
    if not tenant.archives_channel(channel):
        return SkipReason.CHANNEL_OFF
    if tenant.pii_tokenised_sending:
        return SkipReason.PII_TOKENISED
    if size > MAX_CONTENT_BYTES:
        return SkipReason.TOO_LARGE
    return SkipReason.NONE


# columns copied from the event
_FROM_EVENT = {"event_id": "e.id", "event_uuid": "e.event_uuid", "event_name": "e.event_name",
               "contact_uid": "e.uid", "campaign_id": "e.campaign_id", "event_time": "e.event_time"}
# a random 32-hex-digit message id per row
_RANDOM_HEX = {"sqlite": "lower(hex(randomblob(16)))", "postgresql": "replace(gen_random_uuid()::text, '-', '')"}
_PER_STATEMENT = 5000


def _case(column: str, mapping: dict[str, str]) -> tuple[str, list]:
    """CASE column WHEN key THEN value … END, as SQL and parameters."""
    sql, params = [f"CASE {column}"], []
    for key, value in mapping.items():
        sql.append("WHEN %s THEN %s")
        params += [key, value]
    return " ".join([*sql, "END"]), params


def _insert_select(tenant: Tenant, event_ids: list[int], now) -> int:
    """One INSERT … SELECT per slice of ids (mktops.fastwrite.insert_select): the rows are made
    from the events inside the database, so nothing is read back into Python and re-sent (the
    receiver runs on every ingest batch). Rows a concurrent sweep already made are skipped;
    the columns not named here (the Job columns, the file's) get their model defaults.
    Returns the rows queued for writing."""
    ops = connection.ops
    names = list(SentEvent.CHANNELS)
    # the skip reason of each channel, but for the size limit, which depends on the row
    fixed = {name: skip_reason_for(tenant=tenant, channel=SentEvent.CHANNELS[name][0], size=0) for name in names}
    reason_sql, reason_params = ["CASE e.event_name"], []
    for name in names:
        if fixed[name]:
            reason_sql.append("WHEN %s THEN %s")
            reason_params += [name, fixed[name]]
        else:
            # a sent event with no content gets its row, skipped; the 250 KB rule is the template's
            size = _TEMPLATE_BYTES[connection.vendor] if name == SentEvent.EMAIL else "m.size"
            reason_sql.append(f"WHEN %s THEN (CASE WHEN m.event_id IS NULL THEN %s WHEN {size} > %s THEN %s "
                              "ELSE %s END)")
            reason_params += [name, SkipReason.NO_CONTENT, MAX_CONTENT_BYTES, SkipReason.TOO_LARGE,
                              SkipReason.NONE]
    reason_sql.append("END")
    channel_sql, channel_params = _case("s.event_name", {n: c for n, (c, _) in SentEvent.CHANNELS.items()})
    platform_sql, platform_params = _case("s.event_name", {n: p or "" for n, (_, p) in SentEvent.CHANNELS.items()})
    at_now = ops.adapt_datetimefield_value(now)
    skipped = "s.skip_reason <> ''"
    select = {  # column → (SQL, parameters), over the matching events `s`
        "tenant_id": ("%s", [tenant.pk]),
        "message_id": (_RANDOM_HEX[connection.vendor], []),
        "channel": (channel_sql, channel_params),
        "platform": (platform_sql, platform_params),
        "skip_reason": ("s.skip_reason", []),
        "created_at": ("%s", [at_now]),
        "status": (f"CASE WHEN {skipped} THEN %s ELSE %s END", [JobStatus.DONE, JobStatus.PENDING]),
        "outcome": (f"CASE WHEN {skipped} THEN %s ELSE %s END", [Outcome.SKIPPED, Outcome.QUEUED]),
        "finished_at": (f"CASE WHEN {skipped} THEN %s END", [at_now]),
        "next_attempt_at": (f"CASE WHEN {skipped} THEN NULL ELSE %s END", [at_now]),
        **{name: (f"s.{name}", []) for name in _FROM_EVENT},
    }
    inner = ", ".join(f"{column} AS {name}" for name, column in _FROM_EVENT.items())
    # the address the message went to, for the archive search (the API stores both normalised)
    inner += ", e.email_id AS recipient_email, e.mobile_number AS recipient_mobile"
    select["recipient"] = ("CASE s.event_name WHEN %s THEN s.recipient_email WHEN %s THEN s.recipient_mobile "
                           "ELSE '' END", [SentEvent.EMAIL, SentEvent.SMS])
    queued = 0
    for start in range(0, len(event_ids), _PER_STATEMENT):
        ids = event_ids[start:start + _PER_STATEMENT]
        marks = ", ".join(["%s"] * len(ids))
        source = (
            f"SELECT {inner}, {' '.join(reason_sql)} AS skip_reason "  # noqa: S608 - names from the models
            f"FROM {ops.quote_name(Event._meta.db_table)} e "
            f"LEFT JOIN {ops.quote_name(SentMessage._meta.db_table)} m ON m.event_id = e.id "
            f"WHERE e.id IN ({marks}) "
            f"AND e.event_name IN ({', '.join(['%s'] * len(names))})"
        )
        rows = fastwrite.insert_select(model=ArchivedMessage, select=select, source=source,
                                       source_params=[*reason_params, *ids, *names], now=now,
                                       returning="skip_reason")
        queued += sum(1 for (reason,) in rows if not reason)
    return queued


def archived_messages_create(*, tenant: Tenant, event_ids: list[int]) -> int:
    """One row per sent event (queued, or skipped with its reason: no content reported), made by one
    statement per batch; returns how many new rows were queued for writing."""
    if not event_ids:
        return 0
    with transaction.atomic():
        return _insert_select(tenant, list(event_ids), clock.now())


def missing_sent_messages(*, limit: int = 1000) -> dict[int, list[int]]:
    """Sent events with content and no archive row, by tenant id."""
    by_tenant: dict[int, list[int]] = {}
    pairs = (SentMessage.objects.filter(event__archived__isnull=True)
             .order_by("event_id").values_list("tenant_id", "event_id")[:limit])
    for tenant_id, event_id in pairs:
        by_tenant.setdefault(tenant_id, []).append(event_id)
    return by_tenant


def archived_messages_backfill(*, limit: int = 1000) -> int:
    created = 0
    for tenant_id, event_ids in missing_sent_messages(limit=limit).items():
        tenant = Tenant.objects.get(pk=tenant_id)
        created += archived_messages_create(tenant=tenant, event_ids=event_ids)
    return created
