"""A simulated thermostat: the room's temperature drifts towards the set point."""

from __future__ import annotations

from collections.abc import Callable

from domogate.bus.simulation.building import (
    INITIAL_MODE,
    INITIAL_ROOM_TEMPERATURE,
    INITIAL_TARGET,
    TEMPERATURE_STEP,
    Building,
)
from domogate.bus.simulation.device import Device
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue, normalise


class Thermostat(Device):
    def __init__(self, building: Building, obj: ResolvedObject) -> None:
        super().__init__(building, obj)
        temperature = building.remembered(self.attrs.get("temperature"), INITIAL_ROOM_TEMPERATURE)
        self.temperature = (
            float(temperature) if isinstance(temperature, int | float) else INITIAL_ROOM_TEMPERATURE
        )
        target = building.remembered(self.attrs.get("target"), INITIAL_TARGET)
        self.target = float(target) if isinstance(target, int | float) else INITIAL_TARGET
        self.mode = building.remembered(self.attrs.get("mode"), INITIAL_MODE)

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        return {**self._on("target", self._set_target), **self._on("mode", self._set_mode)}

    def _set_target(self, value: JsonValue) -> None:
        if isinstance(value, int | float):
            self.target = float(value)
        self._report("target", self.target)

    def _set_mode(self, value: JsonValue) -> None:
        self.mode = value
        self._report("mode", value)

    def tick(self) -> None:
        delta = self.target - self.temperature
        if abs(delta) < TEMPERATURE_STEP / 2:
            return
        step = min(TEMPERATURE_STEP, abs(delta))
        self.temperature = round(self.temperature + (step if delta > 0 else -step), 2)
        attribute = self.attrs.get("temperature")
        if attribute is not None:
            self.b.report(
                attribute.state, attribute.dpt, normalise(attribute.dpt, self.temperature)
            )

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        attribute = self.attrs.get("temperature")
        temperature = normalise(attribute.dpt, self.temperature) if attribute else None
        return (
            self._value("temperature", temperature)
            + self._value("target", self.target)
            + self._value("mode", self.mode)
        )
