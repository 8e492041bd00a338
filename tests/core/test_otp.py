"""core/otp.py: generation, normalisation, display, keyed digest."""

from __future__ import annotations

import random

from domogate.core import otp


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
