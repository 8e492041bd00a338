"""Rules for the names people give themselves and their devices (untrusted text)."""

from __future__ import annotations

import unicodedata

from domogate.errors import Conflict, InvalidInput

MAX_NAME = 64


def clean_name(raw: object, what: str = "name", max_len: int = MAX_NAME) -> str:
    """Strip, NFC-normalise and check a display name; raise ``InvalidInput`` otherwise.

    Any printable text is allowed (it is always shown as text, never as markup).
    """
    if not isinstance(raw, str):
        raise InvalidInput(f"The {what} must be text.")
    name = unicodedata.normalize("NFC", raw).strip()
    if not name:
        raise InvalidInput(f"The {what} is empty.")
    if len(name) > max_len:
        raise InvalidInput(f"The {what} is longer than {max_len} characters.")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise InvalidInput(f"The {what} contains control characters.")
    return name


def name_key(name: str) -> str:
    """The one identity of a user name, used by the store, authentication, deploy, the
    configurator and throttling alike: look-alike spellings are one name.

    Unicode compatibility forms (full-width ``ａdmin``), case (``ADMIN``), spaces anywhere
    (``ad min``) and invisible format characters do not make a different name. The key is
    bounded in length so that a long string costs nothing more than a short one.
    """
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name[:512]).casefold())
    return "".join(
        c for c in folded if not c.isspace() and unicodedata.category(c) not in _INVISIBLE
    )[:255]


def same_name(a: str, b: str) -> bool:
    """Whether two user names are one name (see :func:`name_key`)."""
    return name_key(a) == name_key(b)


def name_taken(name: str) -> Conflict:
    """The one refusal of a user name another user already has (by :func:`name_key`),
    whoever asks: adding a client, a person naming themselves, any change to a user."""
    return Conflict(
        f"The name {name!r} is already taken (user names ignore case, spaces and look-alike "
        "characters); choose another.",
        field="name",
    )


def printable_excerpt(raw: object, max_len: int) -> str | None:
    """Text typed by someone not (yet) authenticated, made safe to store and show: NFC,
    control and format characters dropped, whitespace collapsed, at most ``max_len``."""
    if not isinstance(raw, str):
        return None
    text = unicodedata.normalize("NFC", raw[: max_len * 4])
    kept = "".join(
        " " if c.isspace() else c
        for c in text
        if c.isspace() or unicodedata.category(c) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )
    return " ".join(kept.split())[:max_len] or None


_INVISIBLE = frozenset({"Cc", "Cf", "Zl", "Zp", "Zs"})
