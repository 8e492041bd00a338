"""How instants are written in the API: ISO 8601, UTC, with a ``Z``."""

from __future__ import annotations

from datetime import datetime


def iso(dt: datetime | None) -> str | None:
    """``2026-11-28T18:00:00Z`` for an aware UTC datetime; None stays None."""
    return dt.isoformat().replace("+00:00", "Z") if dt else None
