"""A simulated switch actuator."""

from __future__ import annotations

from collections.abc import Callable

from domogate.bus.simulation.building import Building
from domogate.bus.simulation.device import Device
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue


class Switch(Device):
    def __init__(self, building: Building, obj: ResolvedObject) -> None:
        super().__init__(building, obj)
        self.on = building.remembered(self.attrs.get("on"), False)

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        return self._on("on", self._set)

    def _set(self, value: JsonValue) -> None:
        self.on = value
        self._report("on", value)

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        return self._value("on", self.on)
