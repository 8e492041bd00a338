"""Build the bus adapter the server settings ask for."""

from __future__ import annotations

from domogate.errors import InvalidInput
from domogate.services.bus import Bus
from domogate.settings import BusSettings


def build_bus(settings: BusSettings) -> Bus:
    if settings.adapter == "simulated":
        from domogate.bus.simulated import SimulatedBus

        return SimulatedBus(speed=settings.simulation_speed)
    if settings.adapter == "knx":
        from domogate.bus.knx import KnxBus  # type: ignore[import-not-found,unused-ignore]

        return KnxBus(settings.knx)  # type: ignore[no-any-return,unused-ignore]
    raise InvalidInput(f"unknown bus {settings.adapter!r}; use 'simulated' or 'knx'")
