"""Lines a feature shows on the CSM's tenant page (a state the CSM should know about, in words).

The core does not import the features, so each registers a function in its `apps.py`:

    register_tenant_notes(func)   # func(tenant) -> list[str]
"""

from __future__ import annotations

from collections.abc import Callable

from mktops.models import Tenant

NotesFunc = Callable[[Tenant], list[str]]
_registry: list[NotesFunc] = []


def register_tenant_notes(func: NotesFunc) -> None:
    """Idempotent: `ready()` may run more than once (tests, autoreload)."""
    if func not in _registry:
        _registry.append(func)


def tenant_notes(tenant: Tenant) -> list[str]:
    return [note for func in _registry for note in func(tenant)]
