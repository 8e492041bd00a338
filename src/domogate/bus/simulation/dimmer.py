"""A simulated dimmer: on/off and brightness, back to the last level when switched on."""

from __future__ import annotations

from collections.abc import Callable

from domogate.bus.simulation.building import Building
from domogate.bus.simulation.device import Device
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue


class Dimmer(Device):
    def __init__(self, building: Building, obj: ResolvedObject) -> None:
        super().__init__(building, obj)
        brightness = building.remembered(self.attrs.get("brightness"), 0)
        self.brightness = brightness if isinstance(brightness, int | float) else 0
        on = building.remembered(self.attrs.get("on"), self.brightness > 0)
        self.on = bool(on)
        self.last = self.brightness if self.brightness > 0 else 100

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        return {**self._on("on", self._switch), **self._on("brightness", self._dim)}

    def _switch(self, value: JsonValue) -> None:
        self.on = bool(value)
        self.brightness = self.last if self.on else 0
        self._publish()

    def _dim(self, value: JsonValue) -> None:
        level = value if isinstance(value, int | float) else 0
        self.brightness = level
        self.on = level > 0
        if level > 0:
            self.last = level
        self._publish()

    def _publish(self) -> None:
        self._report("on", self.on)
        self._report("brightness", self.brightness)

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        return self._value("on", self.on) + self._value("brightness", self.brightness)
