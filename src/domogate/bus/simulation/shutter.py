"""A simulated shutter that takes time to move (see ``travel``) and keeps its slats."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from domogate.bus.simulation.building import ACTUATOR_DELAY_S, Building
from domogate.bus.simulation.device import Device
from domogate.bus.simulation.travel import SHUTTER_STEP, SHUTTER_TRAVEL_S, next_position, step_time
from domogate.core.objects import Attribute, ResolvedObject
from domogate.core.values import JsonValue, normalise


class Shutter(Device):
    def __init__(self, building: Building, obj: ResolvedObject) -> None:
        super().__init__(building, obj)
        position = building.remembered(self.attrs.get("position"), 0)
        self.position: float = position if isinstance(position, int | float) else 0
        slats = building.remembered(self.attrs.get("slats"), 0)
        self.slats = slats if isinstance(slats, int | float) else 0
        self.target: float = self.position
        self._timer: asyncio.TimerHandle | None = None

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        return {
            **self._on("move", lambda down: self._go(100 if down else 0)),
            **self._on("stop", lambda _: self._stop()),
            **self._on("position", self._position),
            **self._on("slats", self._slats),
        }

    def _position(self, value: JsonValue) -> None:
        self._go(value if isinstance(value, int | float) else self.position)

    def _slats(self, value: JsonValue) -> None:
        self.slats = value if isinstance(value, int | float) else self.slats
        self._report("slats", self.slats)

    def _go(self, target: float) -> None:
        self.target = target
        if self._timer is None:
            self._timer = self.b.later(self._step_time(), self._step)

    def _step_time(self) -> float:
        return step_time(SHUTTER_TRAVEL_S, SHUTTER_STEP)

    def _step(self) -> None:
        self._timer = None
        self.position = next_position(self.position, self.target, SHUTTER_STEP)
        self._report_position(delay=0)
        if self.position != self.target:
            self._timer = self.b.later(self._step_time(), self._step)

    def _report_position(self, delay: float = ACTUATOR_DELAY_S) -> None:
        attribute = self.attrs.get("position")
        if attribute is not None:
            self._report("position", normalise(attribute.dpt, self.position), delay)

    def _stop(self) -> None:
        self.cancel()
        self.target = self.position
        self._report_position()

    def cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    @property
    def moving(self) -> bool:
        return self._timer is not None

    @property
    def command_address(self) -> str | None:
        position = self.attrs.get("position")
        return position.write if position is not None else None

    def resume(self, target: float) -> None:
        self._go(target)

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        position = self.attrs.get("position")
        shown = normalise(position.dpt, self.position) if position else None
        return self._value("position", shown) + self._value("slats", self.slats)
