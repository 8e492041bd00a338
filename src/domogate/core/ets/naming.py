"""ETS import, reading ETS names: datapoint types, ids and labels derived from ETS data,
status addresses by their name, group address order."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from typing import Any

MAX_ID = 64
MAX_LABEL = 100

_STATUS_RE = re.compile(
    r"(?<![a-z])(status|state|feedback|r(ü|ue)ckmeldung|rm|zustand)(?![a-z])", re.IGNORECASE
)
_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "o"})


def format_dpt(dpt: Mapping[str, Any] | None) -> str | None:
    """``{"main": 9, "sub": 1}`` → ``"9.001"``; ``{"main": 9, "sub": None}`` → ``"9"``."""
    if not dpt or dpt.get("main") is None:
        return None
    main, sub = int(dpt["main"]), dpt.get("sub")
    return str(main) if sub is None else f"{main}.{int(sub):03d}"


def slugify(text: str, *, max_length: int = MAX_ID) -> str:
    """Lowercase ``a-z 0-9 -`` (umlauts transliterated); empty when nothing is left."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:max_length].rstrip("-")


def make_id(name: str, suffix: str, fallback: str) -> str:
    """``slug(name)_suffix``, at most 64 characters; the suffix (unique) is never cut."""
    suffix = slugify(suffix)
    room = MAX_ID - len(suffix) - 1
    base = slugify(name, max_length=room) or fallback
    return f"{base}_{suffix}" if suffix else base


def label(text: str, fallback: str) -> str:
    """A valid name or title: control characters replaced, at most 100 characters."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cs") else c for c in str(text or "")
    ).strip()
    if not cleaned:
        return fallback
    if len(cleaned) > MAX_LABEL:
        cleaned = cleaned[: MAX_LABEL - 1].rstrip() + "…"
    return cleaned


def looks_like_status(name: str) -> bool:
    """Whether a group address name says it carries a feedback (``Licht Status``, ``RM``)."""
    return _STATUS_RE.search(name) is not None


def address_key(address: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in address.split("/"))
    except ValueError:
        return (1 << 30,)
