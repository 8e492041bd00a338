"""Test doubles for the boundaries the services take as parameters."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta


class FakeClock:
    """A clock that moves only when told to."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
        self._mono = 1000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._mono += seconds


@dataclass
class FakeSetupCodes:
    code: str | None = "ACDE-FGHJ-KLMN"
    discarded: int = 0
    checks: list[str] = field(default_factory=list)

    def check_setup_code(self, typed: str) -> bool:
        self.checks.append(typed)
        return self.code is not None and typed.replace("-", "").upper() == self.code.replace(
            "-", ""
        )

    def discard_setup_code(self) -> None:
        self.discarded += 1
        self.code = None


def seeded_randbelow(seed: int = 1234):  # type: ignore[no-untyped-def]
    rng = random.Random(seed)
    return rng.randrange
