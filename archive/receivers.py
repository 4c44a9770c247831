"""The archive's hooks into the core: the ingest signal and the contact timeline's actions."""

from __future__ import annotations

from django.urls import reverse

from archive.models import ArchivedMessage, ArchiveSettings, Outcome
from archive.services.reading import archived_message_unavailable
from mktops.jobs import enqueue
from mktops.models import SentEvent
from mktops.timeline import EventAction

VIEW = "View sent message"
DOWNLOAD = "Download"


def on_events_ingested(sender, *, tenant, event_ids, message_event_ids=None, sent_event_ids=None,
                       **kwargs) -> None:
    """After the ingest commit: one enqueue for a batch with sent events, nothing else.

    The rows are made and written by the task, so the archive costs ingestion one
    enqueue; if the broker is unreachable the sweeper's backfill makes the rows. Sent
    events without content get a row too (skipped: no content reported)."""
    candidates = sent_event_ids if sent_event_ids is not None else (
        event_ids if message_event_ids is None else message_event_ids)
    if candidates:
        enqueue("archive.tasks.deliver_events", tenant.pk, list(candidates))


def _actions_for(message: ArchivedMessage, sftp_folder: str | None = None) -> list[EventAction]:
    reason = archived_message_unavailable(message=message, sftp_folder=sftp_folder)
    if reason:
        # the reason once per row: on the first of the two greyed buttons
        return [EventAction(VIEW, enabled=False, reason=reason), EventAction(DOWNLOAD, enabled=False)]
    actions = [
        EventAction(VIEW, url=reverse("admin:archive_archivedmessage_message", args=[message.pk])),
        EventAction(DOWNLOAD, url=reverse("admin:archive_archivedmessage_download", args=[message.pk]),
                    download=True),
    ]
    if message.outcome == Outcome.HELD:
        actions.append(EventAction("Not delivered", enabled=False,
                                   reason=f"kept internally until {message.held_until:%Y-%m-%d}"))
    return actions


def timeline_actions(request, events) -> dict[int, list[EventAction]]:
    ids = [e.pk for e in events if e.event_name in SentEvent.CHANNELS]
    if not ids:
        return {}
    messages = list(ArchivedMessage.objects.filter(event_id__in=ids).only(
        "id", "tenant_id", "event_id", "outcome", "skip_reason", "destination", "held_until", "key", "status",
        "next_attempt_at", "failure_reason"))
    folders = dict(ArchiveSettings.objects.filter(tenant_id__in={m.tenant_id for m in messages})
                   .values_list("tenant_id", "sftp_folder"))
    return {m.event_id: _actions_for(m, folders.get(m.tenant_id, "")) for m in messages}
