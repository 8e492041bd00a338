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
from dataclasses import dataclass

from domogate.core.objects import AddressIndex, Attribute, ResolvedObject
from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue, decode, dpt_main, encode, normalise, transcoder
from domogate.errors import BusUnavailable, ValueInvalid
from domogate.services.bus import BusListener, BusStatus

log = logging.getLogger(__name__)

ADAPTER = "simulated"

# Real-time constants (seconds at speed 1.0).
ACTUATOR_DELAY_S = 0.01  # a write to its state feedback
SHUTTER_TRAVEL_S = 20.0  # fully open to fully closed
SHUTTER_STEP = 5  # percent between two position reports while moving
CLIMATE_PERIOD_S = 5.0  # how often rooms and sensors change
TEMPERATURE_STEP = 0.1  # °C per climate period, towards the target

INITIAL_ROOM_TEMPERATURE = 20.5
INITIAL_TARGET = 21.0
INITIAL_MODE = "comfort"


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


@dataclass
class _Value:
    dpt: str
    value: JsonValue


class _Building:
    """What the devices may do: know the time scale, remember and report values."""

    def __init__(self, bus: SimulatedBus) -> None:
        self._bus = bus

    def delay(self, seconds: float) -> float:
        return seconds / self._bus.speed

    def later(self, seconds: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        return self._bus._later(self.delay(seconds), callback)

    def report(self, address: str | None, dpt: str, value: JsonValue) -> None:
        if address is not None:
            self._bus._report(address, dpt, value)

    def remembered(self, attribute: Attribute | None, default: JsonValue) -> JsonValue:
        """The value the building last had on the attribute's addresses, if still typed the
        same, else ``default``."""
        if attribute is None:
            return default
        for address in (attribute.state, attribute.write):
            known = self._bus._memory.get(address) if address else None
            if known is not None and dpt_main(known.dpt) == dpt_main(attribute.dpt):
                try:
                    return normalise(attribute.dpt, known.value)
                except ValueInvalid:
                    continue
        return default


class _Device:
    """One simulated actuator or sensor."""

    def __init__(self, building: _Building, obj: ResolvedObject) -> None:
        self.b = building
        self.attrs = obj.attributes

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        """Command address → what a write there does."""
        return {}

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        """Every stateful attribute with its current value (what a read would return)."""
        return []

    def tick(self) -> None:
        """A climate period passed."""

    def cancel(self) -> None:
        """Stop any motion (reconfigure, stop)."""

    def _report(self, name: str, value: JsonValue, delay: float = ACTUATOR_DELAY_S) -> None:
        attribute = self.attrs.get(name)
        if attribute is None or attribute.state is None:
            return
        address, dpt = attribute.state, attribute.dpt
        self.b.later(delay, lambda: self.b.report(address, dpt, value))

    def _on(
        self, name: str, handler: Callable[[JsonValue], None]
    ) -> dict[str, Callable[..., None]]:
        attribute = self.attrs.get(name)
        if attribute is None or attribute.write is None:
            return {}
        return {attribute.write: handler}

    def _value(self, name: str, value: JsonValue) -> list[tuple[Attribute, JsonValue]]:
        attribute = self.attrs.get(name)
        return [] if attribute is None else [(attribute, value)]


class _Switch(_Device):
    def __init__(self, building: _Building, obj: ResolvedObject) -> None:
        super().__init__(building, obj)
        self.on = building.remembered(self.attrs.get("on"), False)

    def handlers(self) -> dict[str, Callable[[JsonValue], None]]:
        return self._on("on", self._set)

    def _set(self, value: JsonValue) -> None:
        self.on = value
        self._report("on", value)

    def values(self) -> list[tuple[Attribute, JsonValue]]:
        return self._value("on", self.on)


class _Dimmer(_Device):
    def __init__(self, building: _Building, obj: ResolvedObject) -> None:
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


class _Shutter(_Device):
    def __init__(self, building: _Building, obj: ResolvedObject) -> None:
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
        return SHUTTER_TRAVEL_S * SHUTTER_STEP / 100

    def _step(self) -> None:
        self._timer = None
        delta = self.target - self.position
        if abs(delta) <= SHUTTER_STEP:
            self.position = self.target
        else:
            self.position += SHUTTER_STEP if delta > 0 else -SHUTTER_STEP
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


class _Thermostat(_Device):
    def __init__(self, building: _Building, obj: ResolvedObject) -> None:
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


class _Sensor(_Device):
    """Temperatures (DPT 9.001) wander slowly around where they started; other sensors
    keep their value."""

    def __init__(self, building: _Building, obj: ResolvedObject, rng: random.Random) -> None:
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
        self._memory: dict[str, _Value] = {}  # address → last value the building carried
        self._devices: list[_Device] = []
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
            if isinstance(device, _Shutter) and device.moving and device.command_address:
                moving[device.command_address] = device.target
            device.cancel()
        building = _Building(self)
        devices: list[_Device] = []
        for resolved in index.objects.values():
            devices.append(self._device(building, resolved))
        handlers: dict[str, list[Callable[[JsonValue], None]]] = {}
        for device in devices:
            for address, handler in device.handlers().items():
                handlers.setdefault(address, []).append(handler)
        self._devices = devices
        self._handlers = handlers
        for device in devices:
            if isinstance(device, _Shutter) and device.command_address in moving:
                device.resume(moving[device.command_address])
        self._readable = index.read_addresses()
        # forget addresses that no longer exist, remember the current values of the others
        known = set(index.listened()) | set(index.written())
        self._memory = {a: v for a, v in self._memory.items() if a in known}
        for device in devices:
            for attribute, value in device.values():
                for carrier in (attribute.state, attribute.write):
                    if carrier is not None:
                        self._memory[carrier] = _Value(attribute.dpt, value)
        if self._connected:
            self._report_all()

    async def write(self, address: str, dpt: str, value: JsonValue) -> None:
        if not self._connected:
            raise BusUnavailable(
                "The simulated bus is down." if self._started else "The bus is not started."
            )
        carried = decode(dpt, encode(dpt, value))  # ValueInvalid when it does not fit
        self._written.append((address, dpt, carried))
        self._memory[address] = _Value(dpt, carried)
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

    def _device(self, building: _Building, resolved: ResolvedObject) -> _Device:
        kinds: dict[str, type[_Device]] = {
            "switch": _Switch,
            "dimmer": _Dimmer,
            "shutter": _Shutter,
            "thermostat": _Thermostat,
        }
        if resolved.type == "sensor":
            return _Sensor(building, resolved, self._rng)
        return kinds.get(resolved.type, _Device)(building, resolved)

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
        self._memory[address] = _Value(dpt, value)
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
