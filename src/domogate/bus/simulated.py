"""A simulated building behind a bus: actuators that answer, shutters that move, rooms
whose temperature follows the thermostat.

It is built from the deployed objects (:meth:`SimulatedBus.configure`) and behaves like the
KNX bus seen from the server: a write to a command address is not echoed back, but the
"actuator" reports its new state on the state address a few milliseconds later (scaled by
``speed``); at start, and after each reconnection, it reports the state of everything
readable, as if the server had read it.

Everything happens on the event loop through timer handles (``loop.call_later``):
:meth:`SimulatedBus.write` only validates, records and schedules, it never waits.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Callable, Sequence

from domogate.bus.simulation.building import CLIMATE_PERIOD_S, Building, Value
from domogate.bus.simulation.device import Device
from domogate.bus.simulation.dimmer import Dimmer
from domogate.bus.simulation.sensor import Sensor
from domogate.bus.simulation.shutter import Shutter
from domogate.bus.simulation.switch import Switch
from domogate.bus.simulation.thermostat import Thermostat
from domogate.core.objects import AddressIndex, ResolvedObject
from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue, decode, encode
from domogate.errors import BusUnavailable
from domogate.services.bus import BusListener, BusStatus

log = logging.getLogger(__name__)

ADAPTER = "simulated"

_KINDS: dict[str, type[Device]] = {
    "switch": Switch,
    "dimmer": Dimmer,
    "shutter": Shutter,
    "thermostat": Thermostat,
}


class SimulatedBus:
    """The :class:`~domogate.services.bus.Bus` of a simulated building.

    ``speed`` scales time (2.0 runs twice as fast; tests use 50-1000); ``seed`` makes the
    sensors' wandering reproducible. :meth:`set_connected` simulates the bus going down
    and coming back. :attr:`written` is the recent write history, for tests.
    """

    def __init__(self, speed: float = 1.0, seed: int = 0, history: int = 1000) -> None:
        if speed <= 0:
            raise ValueError("simulation speed must be positive")
        self.speed = speed
        self._rng = random.Random(seed)  # noqa: S311 - a simulation, not security
        self._listener: BusListener | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = False
        self._started = False
        self._status = BusStatus(ADAPTER, False, "not started")
        self._memory: dict[str, Value] = {}  # address → last value the building carried
        self._devices: list[Device] = []
        self._handlers: dict[str, list[Callable[[JsonValue], None]]] = {}
        self._readable: dict[str, str] = {}
        self._written: deque[tuple[str, str, JsonValue]] = deque(maxlen=history)
        self._timers: set[asyncio.TimerHandle] = set()
        self._climate: asyncio.TimerHandle | None = None

    # --- Bus ------------------------------------------------------------------------------

    @property
    def status(self) -> BusStatus:
        return self._status

    async def start(self, listener: BusListener) -> None:
        self._listener = listener
        self._loop = asyncio.get_running_loop()
        self._started = True
        self._connected = True
        self._set_status(BusStatus(ADAPTER, True, "simulated building"))
        self._report_all()  # configured before start: the reads happen now
        self._schedule_climate()

    async def configure(self, objects: Sequence[ProjectObject]) -> None:
        index = AddressIndex.of(objects)
        moving: dict[str, float] = {}  # shutters keep moving across a deploy
        for device in self._devices:
            if isinstance(device, Shutter) and device.moving and device.command_address:
                moving[device.command_address] = device.target
            device.cancel()
        building = Building(lambda: self.speed, self._later, self._report, lambda: self._memory)
        devices: list[Device] = []
        for resolved in index.objects.values():
            devices.append(self._device(building, resolved))
        handlers: dict[str, list[Callable[[JsonValue], None]]] = {}
        for device in devices:
            for address, handler in device.handlers().items():
                handlers.setdefault(address, []).append(handler)
        self._devices = devices
        self._handlers = handlers
        for device in devices:
            if isinstance(device, Shutter) and device.command_address in moving:
                device.resume(moving[device.command_address])
        self._readable = index.read_addresses()
        # forget addresses that no longer exist, remember the current values of the others
        known = set(index.listened()) | set(index.written())
        self._memory = {a: v for a, v in self._memory.items() if a in known}
        for device in devices:
            for attribute, value in device.values():
                for carrier in (attribute.state, attribute.write):
                    if carrier is not None:
                        self._memory[carrier] = Value(attribute.dpt, value)
        if self._connected:
            self._report_all()

    async def write(self, address: str, dpt: str, value: JsonValue) -> None:
        if not self._connected:
            raise BusUnavailable(
                "The simulated bus is down." if self._started else "The bus is not started."
            )
        carried = decode(dpt, encode(dpt, value))  # ValueInvalid when it does not fit
        self._written.append((address, dpt, carried))
        self._memory[address] = Value(dpt, carried)
        for handler in self._handlers.get(address, ()):
            handler(carried)

    async def stop(self) -> None:
        for device in self._devices:
            device.cancel()
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        if self._climate is not None:
            self._climate.cancel()
            self._climate = None
        self._connected = False
        self._started = False
        self._set_status(BusStatus(ADAPTER, False, "stopped"))

    # --- for tests and demos ----------------------------------------------------------

    @property
    def written(self) -> list[tuple[str, str, JsonValue]]:
        """The most recent writes (address, dpt, value as carried), oldest first."""
        return list(self._written)

    def value(self, address: str) -> JsonValue:
        """What the building last carried on ``address`` (None if unknown)."""
        known = self._memory.get(address)
        return known.value if known is not None else None

    def set_connected(self, connected: bool) -> None:
        """Simulate the bus going down (writes fail at once, nothing is reported) or coming
        back (everything readable is reported again, as after a reconnection)."""
        if not self._started or connected == self._connected:
            return
        self._connected = connected
        if connected:
            self._set_status(BusStatus(ADAPTER, True, "simulated building"))
            self._report_all()
        else:
            self._set_status(BusStatus(ADAPTER, False, "simulated bus down"))

    # --- inside ---------------------------------------------------------------------------

    def _device(self, building: Building, resolved: ResolvedObject) -> Device:
        if resolved.type == "sensor":
            return Sensor(building, resolved, self._rng)
        return _KINDS.get(resolved.type, Device)(building, resolved)

    def _set_status(self, status: BusStatus) -> None:
        if status == self._status:
            return
        self._status = status
        if self._listener is not None:
            self._listener.on_status(status)

    def _later(self, delay: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = self._loop or asyncio.get_running_loop()

        def run() -> None:
            self._timers.discard(handle)
            callback()

        handle = loop.call_later(delay, run)
        self._timers.add(handle)
        return handle

    def _report(self, address: str, dpt: str, value: JsonValue) -> None:
        self._memory[address] = Value(dpt, value)
        if self._connected and self._listener is not None:
            self._listener.on_value(address, value)

    def _report_all(self) -> None:
        """Answer the reads of every readable address."""
        if self._listener is None:
            return
        for address in self._readable:
            known = self._memory.get(address)
            if known is not None and known.value is not None:
                self._listener.on_value(address, known.value)

    def _schedule_climate(self) -> None:
        if self._climate is not None:
            self._climate.cancel()
        loop = self._loop or asyncio.get_running_loop()
        self._climate = loop.call_later(CLIMATE_PERIOD_S / self.speed, self._climate_tick)

    def _climate_tick(self) -> None:
        self._climate = None
        for device in self._devices:
            try:
                device.tick()
            except Exception:  # one odd device must not stop the building
                log.exception("simulated device failed")
        if self._started:
            self._schedule_climate()
