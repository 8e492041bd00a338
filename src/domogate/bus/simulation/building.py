"""What the simulated devices may do: know the time scale, remember and report values."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from domogate.core.objects import Attribute
from domogate.core.values import JsonValue, dpt_main, normalise
from domogate.errors import ValueInvalid

# Real-time constants (seconds at speed 1.0).
ACTUATOR_DELAY_S = 0.01  # a write to its state feedback
CLIMATE_PERIOD_S = 5.0  # how often rooms and sensors change
TEMPERATURE_STEP = 0.1  # °C per climate period, towards the target

INITIAL_ROOM_TEMPERATURE = 20.5
INITIAL_TARGET = 21.0
INITIAL_MODE = "comfort"


@dataclass
class Value:
    dpt: str
    value: JsonValue


class Building:
    """What the devices may do: know the time scale, remember and report values.

    ``speed`` and ``memory`` are read when needed (the bus may change them); ``later``
    schedules a callback after simulated seconds already scaled by ``speed``; ``report``
    carries a value on an address.
    """

    def __init__(
        self,
        speed: Callable[[], float],
        later: Callable[[float, Callable[[], None]], asyncio.TimerHandle],
        report: Callable[[str, str, JsonValue], None],
        memory: Callable[[], Mapping[str, Value]],
    ) -> None:
        self._speed = speed
        self._later = later
        self._report = report
        self._memory = memory

    def delay(self, seconds: float) -> float:
        return seconds / self._speed()

    def later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._later(self.delay(seconds), callback)

    def report(self, address: str | None, dpt: str, value: JsonValue) -> None:
        if address is not None:
            self._report(address, dpt, value)

    def remembered(self, attribute: Attribute | None, default: JsonValue) -> JsonValue:
        """The value the building last had on the attribute's addresses, if still typed the
        same, else ``default``."""
        if attribute is None:
            return default
        for address in (attribute.state, attribute.write):
            known = self._memory().get(address) if address else None
            if known is not None and dpt_main(known.dpt) == dpt_main(attribute.dpt):
                try:
                    return normalise(attribute.dpt, known.value)
                except ValueInvalid:
                    continue
        return default
