"""core/names.py: display names, the one name key, clean excerpts of strangers' text."""

from __future__ import annotations

import pytest

from domogate.core.names import clean_name, name_key, name_taken, printable_excerpt, same_name
from domogate.errors import Conflict, InvalidInput


def test_clean_name_normalises_and_refuses_control_characters() -> None:
    assert clean_name("  Zoe\u0301 ") == "Zoé"
    for bad in ("", "   ", "a\x00b", "a\u202eb", "x" * 65, 42):
        with pytest.raises(InvalidInput):
            clean_name(bad)


def test_name_key_folds_look_alikes_into_one_name() -> None:
    assert name_key("ＡＤＭＩＮ") == name_key("ad min") == name_key("Admin") == "admin"
    assert name_key("a\u200bdmin") == "admin"
    assert name_key("Straße") == name_key("STRASSE")
    assert name_key("alice") != name_key("alicia")
    assert len(name_key("x" * 10_000)) == 255


def test_one_identity_and_one_refusal_for_user_names() -> None:
    assert same_name("ＡＤＭＩＮ", "ad min") and not same_name("alice", "alicia")
    taken = name_taken("Alice")
    assert isinstance(taken, Conflict)
    assert taken.message == (
        "The name 'Alice' is already taken (user names ignore case, spaces and look-alike "
        "characters); choose another."
    )
    assert taken.details == {"field": "name"}


def test_printable_excerpt_cleans_and_bounds() -> None:
    assert printable_excerpt("\x1b[31mEvil\u202e  Name\n", 64) == "[31mEvil Name"
    assert printable_excerpt("x" * 100, 10) == "x" * 10
    assert printable_excerpt(None, 10) is None
    assert printable_excerpt("\x00\x01", 10) is None
