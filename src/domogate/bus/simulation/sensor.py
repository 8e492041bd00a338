"""A simulated sensor: temperatures wander around where they started, others keep their
value."""

from __future__ import annotations

import random

from domogate.bus.simulation.building import (
    INITIAL_MODE,
    INITIAL_ROOM_TEMPERATURE,
    TEMPERATURE_STEP,
    Building,
)
from domogate.bus.simulation.device import Device
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue, normalise, transcoder
from domogate.errors import ValueInvalid


def initial_value(dpt: str) -> JsonValue:
    """A plausible value for a sensor nobody has set: 20.5 °C, 45 % humidity, 0 …"""
    by_dpt: dict[str, JsonValue] = {
        "9.001": INITIAL_ROOM_TEMPERATURE,
        "9.004": 300.0,  # lux
        "9.007": 45.0,  # humidity %
        "9.005": 1.5,  # wind m/s
        "20.102": INITIAL_MODE,
    }
    candidates: list[object] = [by_dpt.get(dpt, 0), 0, False, "", {}]
    cls = transcoder(dpt)
    valid = getattr(cls, "get_valid_values", None)
    if callable(valid):
        candidates += [m.name.lower() for m in valid()]
    for candidate in candidates:
        try:
            return normalise(dpt, candidate)
        except ValueInvalid:
            continue
    return None


class Sensor(Device):
    """Temperatures (DPT 9.001) wander slowly around where they started; other sensors
    keep their value."""

    def __init__(self, building: Building, obj: ResolvedObject, rng: random.Random) -> None:
        super().__init__(building, obj)
        self.rng = rng
        attribute = self.attrs.get("value")
        self.value = (
            building.remembered(attribute, initial_value(attribute.dpt)) if attribute else None
        )
        self.centre = self.value

    def tick(self) -> None:
        attribute = self.attrs.get("value")
        if attribute is None or attribute.dpt not in ("9.001", "9.002"):
            return
        if not isinstance(self.value, int | float) or not isinstance(self.centre, int | float):
            return
        # a random walk pulled back towards where it started (±0.1 °C per period)
        pull = (self.centre - self.value) * 0.1
        step = self.rng.choice((-TEMPERATURE_STEP, 0.0, TEMPERATURE_STEP)) + pull
        try:
            value = normalise(attribute.dpt, round(self.value + step, 2))
        except ValueInvalid:
            return
        if value != self.value:
            self.value = value
            self.b.report(attribute.state, attribute.dpt, value)

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        return self._value("value", self.value)
