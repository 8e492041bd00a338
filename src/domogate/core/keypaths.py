"""Key paths into a project (pydantic locs): ``Loc``, line lookups, ``format_path``."""

from __future__ import annotations

from collections.abc import Callable

Loc = tuple[str | int, ...]
LinesFunction = Callable[[Loc], int | None]


def format_path(loc: Loc) -> str:
    """``('users', 2, 'group')`` → ``users[2].group``; the whole document is ``(top level)``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"
