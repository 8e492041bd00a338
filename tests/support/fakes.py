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


class RecordingBus:
    """A bus that records writes and reports what a test tells it (services tests only;
    the simulated building and real KNX have their own tests)."""

    def __init__(self, adapter: str = "recording") -> None:
        from domogate.services.bus import BusStatus

        self._status = BusStatus(adapter, True, "test bus")
        self.listener: object | None = None
        self.written: list[tuple[str, str, object]] = []
        self.configured: list[list[str]] = []
        self.stopped = False

    @property
    def status(self):  # type: ignore[no-untyped-def]
        return self._status

    async def start(self, listener) -> None:  # type: ignore[no-untyped-def]
        self.listener = listener
        listener.on_status(self._status)

    async def configure(self, objects) -> None:  # type: ignore[no-untyped-def]
        self.configured.append([o.id for o in objects])

    async def write(self, address: str, dpt: str, value: object) -> None:
        from domogate.core.values import encode
        from domogate.errors import BusUnavailable

        if not self._status.connected:
            raise BusUnavailable()
        encode(dpt, value)
        self.written.append((address, dpt, value))

    async def stop(self) -> None:
        self.stopped = True

    def set_connected(self, connected: bool) -> None:
        from dataclasses import replace

        self._status = replace(self._status, connected=connected)
        if self.listener is not None:
            self.listener.on_status(self._status)  # type: ignore[attr-defined]

    def inject(self, address: str, value: object) -> None:
        assert self.listener is not None
        self.listener.on_value(address, value)  # type: ignore[attr-defined]
