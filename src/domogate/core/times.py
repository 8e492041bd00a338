"""How instants are written in the API: ISO 8601, UTC, with a ``Z``.

The one formatter of every time the server or the CLI sends (REST, live messages, audit
details, request bodies): ``2026-11-28T18:00:00Z``.
"""

from __future__ import annotations

from datetime import datetime
from typing import overload


@overload
def iso(dt: datetime) -> str: ...
@overload
def iso(dt: None) -> None: ...
@overload
def iso(dt: datetime | None) -> str | None: ...
def iso(dt: datetime | None) -> str | None:
    """``2026-11-28T18:00:00Z`` for an aware UTC datetime; None stays None.

    Another offset is written as is (``…-05:00``): callers holding local times turn them
    to UTC first (``iso(when.astimezone(UTC))``)."""
    return dt.isoformat().replace("+00:00", "Z") if dt else None
