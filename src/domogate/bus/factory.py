"""Build the bus adapter the server settings ask for."""

from __future__ import annotations

from domogate.errors import InvalidInput
from domogate.services.bus import Bus
from domogate.settings import BusSettings


def build_bus(settings: BusSettings) -> Bus:
    """A :class:`~domogate.bus.simulated.SimulatedBus` or a :class:`~domogate.bus.knx.KnxBus`.

    Raises :class:`InvalidInput` naming the setting to fix (unknown adapter, a tunnel
    without its gateway host, a keyring without its password …)."""
    adapter = settings.adapter.strip().lower()
    if adapter == "simulated":
        from domogate.bus.simulated import SimulatedBus

        if settings.simulation_speed <= 0:
            raise InvalidInput(
                f"The simulation speed must be positive, not {settings.simulation_speed}.",
                key="bus.simulation_speed",
            )
        return SimulatedBus(speed=settings.simulation_speed)
    if adapter == "knx":
        from domogate.bus.knx import KnxBus

        return KnxBus(settings.knx)
    raise InvalidInput(
        f"Unknown bus adapter {settings.adapter!r}; use simulated or knx.", key="bus.adapter"
    )
