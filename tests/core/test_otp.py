"""core/otp.py: generation, normalisation, display, keyed digest, the bounds."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from domogate.core import otp
from domogate.errors import InvalidInput


def test_generation_uses_the_injected_randomness_and_the_alphabet() -> None:
    a = otp.generate(random.Random(1).randrange)
    assert a == otp.generate(random.Random(1).randrange)
    assert len(a) == otp.LENGTH and set(a) <= set(otp.ALPHABET)
    assert otp.SPACE_SIZE == 20**10


def test_typed_input_ignores_case_spaces_dashes_dots_underscores() -> None:
    assert otp.normalise(" acdef-ghjkl ") == "ACDEFGHJKL"
    assert otp.normalise("acd.ef_gh jk\tl") == "ACDEFGHJKL"


def test_well_formed_means_ten_letters_of_the_alphabet() -> None:
    assert otp.is_well_formed("ACDEFGHJKL")
    assert not otp.is_well_formed("ACDEFGHJK")  # nine
    assert not otp.is_well_formed("ACDEFGHJKB")  # B reads as 8: not in the alphabet
    assert not otp.is_well_formed("ACDEFGHJKL1")


def test_display_in_two_groups_of_five() -> None:
    assert otp.display("ACDEFGHJKL") == "ACDEF-GHJKL"


def test_the_digest_is_keyed() -> None:
    assert otp.digest(b"k1", "ACDEFGHJKL") == otp.digest(b"k1", "ACDEFGHJKL")
    assert otp.digest(b"k1", "ACDEFGHJKL") != otp.digest(b"k2", "ACDEFGHJKL")
    assert "ACDEFGHJKL" not in otp.digest(b"k1", "ACDEFGHJKL")


def test_only_the_first_max_typed_characters_are_read() -> None:
    assert otp.read_typed("acdef-ghjkl") == "ACDEFGHJKL"
    assert otp.read_typed("A" * otp.MAX_TYPED + "C" * 10_000) == "A" * otp.MAX_TYPED


def test_validity_is_one_second_up_to_the_servers_maximum() -> None:
    day = timedelta(hours=24)
    for ok in (timedelta(seconds=otp.MIN_VALIDITY_S), day):
        assert otp.check_validity(ok, day) == ok
    for bad in (timedelta(0), timedelta(seconds=-5), timedelta(milliseconds=999), day * 2):
        with pytest.raises(InvalidInput) as info:
            otp.check_validity(bad, day)
        assert info.value.details == {"field": "valid_for_s"}
    with pytest.raises(InvalidInput, match=r"at most 24 hours \(86400 seconds\)"):
        otp.check_validity(day * 2, day)
