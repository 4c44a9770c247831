"""The one clock that services and jobs read, so tests can move time.

`now()` is `timezone.now()` plus an offset. Tests move the offset with the
`clock` fixture (tests/conftest.py) to make retries fall due at +1 h and +4 h
without waiting and without patching any code path.
"""

from datetime import datetime, timedelta

from django.utils import timezone

_offset = timedelta(0)


def now() -> datetime:
    return timezone.now() + _offset


def advance(delta: timedelta) -> None:
    global _offset
    _offset += delta


def reset() -> None:
    global _offset
    _offset = timedelta(0)
