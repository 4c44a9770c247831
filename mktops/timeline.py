"""The timeline's extension point: feature apps add actions to events.

A provider is a function ``provider(request, events) -> {event_id: [EventAction, ...]}``
that receives one page of events at once (so it can fetch what it needs in
one query) and returns actions for those it has something to offer. The
archive registers "View sent message" and "Download" this way, in its
``AppConfig.ready()``::

    from mktops.timeline import register_event_actions
    register_event_actions(archive_actions)
"""

import logging
from collections import defaultdict
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EventAction:
    label: str
    url: str = ""
    # a disabled action is shown greyed with `reason` as its explanation
    enabled: bool = True
    reason: str = ""
    download: bool = False


_providers: list = []


def register_event_actions(provider) -> None:
    if provider not in _providers:
        _providers.append(provider)


def unregister_event_actions(provider) -> None:
    """Remove a provider (tests; a feature switched off at run time)."""
    if provider in _providers:
        _providers.remove(provider)


def event_actions(request, events) -> dict[int, list[EventAction]]:
    actions: dict[int, list[EventAction]] = defaultdict(list)
    for provider in _providers:
        try:
            for event_id, items in (provider(request, events) or {}).items():
                actions[event_id].extend(items)
        except Exception:
            # one broken feature must not take the support team's page down
            log.exception("timeline action provider %r failed", provider)
    return actions


_panels: list = []


def register_profile_panel(panel) -> None:
    """``panel(request, contact) -> safe HTML or ""``: a box in the profile's left column
    (the quarantine adds the state of each address this way)."""
    if panel not in _panels:
        _panels.append(panel)


def unregister_profile_panel(panel) -> None:
    if panel in _panels:
        _panels.remove(panel)


def profile_panels(request, contact) -> list:
    out = []
    for panel in _panels:
        try:
            html = panel(request, contact)
        except Exception:
            log.exception("profile panel %r failed", panel)
            continue
        if html:
            out.append(html)
    return out


_contact_filters: list = []


def register_contact_filter(filter_class) -> None:
    """A list filter (a ``SimpleListFilter`` subclass) added to the contact list, after the
    tenant filter (the quarantine adds "contacts whose email is quarantined" this way)."""
    if filter_class not in _contact_filters:
        _contact_filters.append(filter_class)


def unregister_contact_filter(filter_class) -> None:
    if filter_class in _contact_filters:
        _contact_filters.remove(filter_class)


def contact_filters() -> list:
    return list(_contact_filters)
