"""The simulated building: each kind of device, deploys, bus drops, write speed."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator

import pytest

from domogate.bus.simulated import SimulatedBus
from domogate.errors import BusUnavailable, ValueInvalid
from tests.support.recorder import Recorder, obj

SPEED = 100.0  # a shutter takes 0.2 s end to end, rooms change every 50 ms

HOUSE = [
    obj("lamp", "switch", command="1/1/1", state="1/1/2"),
    obj("plug", "switch", command="1/1/5"),
    obj(
        "dimmer",
        "dimmer",
        command="1/2/1",
        state="1/2/2",
        brightness="1/2/3",
        brightness_state="1/2/4",
    ),
    obj(
        "blind",
        "shutter",
        command="1/3/1",
        stop="1/3/2",
        position="1/3/3",
        position_state="1/3/4",
        slats="1/3/5",
        slats_state="1/3/6",
    ),
    obj(
        "heating",
        "thermostat",
        temperature="1/4/1",
        target="1/4/2",
        target_state="1/4/3",
        mode="1/4/4",
        mode_state="1/4/5",
    ),
    obj("outside", "sensor", state=("1/5/1", "9.001")),
    obj("window", "sensor", state=("1/5/2", "1.019")),
    obj("humidity", "sensor", state=("1/5/3", "9.007")),
]


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def bus(recorder: Recorder) -> AsyncIterator[SimulatedBus]:
    bus = SimulatedBus(speed=SPEED, seed=7)
    await bus.start(recorder)
    await bus.configure(HOUSE)
    try:
        yield bus
    finally:
        await bus.stop()


async def test_start_reports_status_and_a_plausible_initial_state(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    assert recorder.statuses[0].adapter == "simulated"
    assert recorder.statuses[0].connected is True
    assert bus.status.connected is True
    initial = dict(recorder.values[:20])
    assert initial == {
        "1/1/2": False,  # lamp off
        "1/1/5": False,  # the plug has no state address: its command address is read
        "1/2/2": False,
        "1/2/4": 0,
        "1/3/4": 0,  # shutters open
        "1/3/6": 0,
        "1/4/1": 20.5,
        "1/4/3": 21.0,
        "1/4/5": "comfort",
        "1/5/1": 20.5,
        "1/5/2": False,
        "1/5/3": 45.0,
    }


async def test_switch_reports_its_state_after_a_write(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    recorder.clear()
    await bus.write("1/1/1", "1.001", True)
    assert bus.written[-1] == ("1/1/1", "1.001", True)
    assert recorder.values == []  # nothing at once: the actuator answers a little later
    await recorder.value("1/1/2", True)
    assert "1/1/1" not in [a for a, _ in recorder.values]  # the write itself is not echoed
    await bus.write("1/1/1", "1.001", False)
    await recorder.value("1/1/2", False)
    assert bus.value("1/1/2") is False


async def test_switch_without_state_address_reports_nothing(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    recorder.clear()
    await bus.write("1/1/5", "1.001", True)
    await bus.write("1/1/1", "1.001", True)  # a marker: reported after the plug's would be
    await recorder.value("1/1/2", True)
    assert [a for a, _ in recorder.values if a.startswith("1/1/")] == ["1/1/2"]
    assert bus.value("1/1/5") is True


async def test_dimmer_brightness_and_on_off(bus: SimulatedBus, recorder: Recorder) -> None:
    recorder.clear()
    await bus.write("1/2/3", "5.001", 60)
    await recorder.until(lambda: bus.value("1/2/4") == 60 and bus.value("1/2/2") is True)
    await bus.write("1/2/1", "1.001", False)
    await recorder.until(lambda: bus.value("1/2/4") == 0 and bus.value("1/2/2") is False)
    await bus.write("1/2/1", "1.001", True)  # on again: the last brightness comes back
    await recorder.until(lambda: bus.value("1/2/4") == 60 and bus.value("1/2/2") is True)
    await bus.write("1/2/3", "5.001", 0)  # brightness 0 means off
    await recorder.until(lambda: bus.value("1/2/4") == 0 and bus.value("1/2/2") is False)
    assert recorder.of("1/2/4") == [60, 0, 60, 0]
    assert recorder.of("1/2/2") == [True, False, True, False]


async def test_shutter_moves_over_time_reporting_its_position(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    recorder.clear()
    started = time.monotonic()
    await bus.write("1/3/3", "5.001", 50)
    await recorder.value("1/3/4", 50, timeout=5)
    took = time.monotonic() - started
    assert recorder.of("1/3/4") == list(range(5, 55, 5))
    # half of 20 s at speed 100: 0.1 s (give the event loop slack, but it is not instant)
    assert 0.08 <= took < 1.0, took

    recorder.clear()
    await bus.write("1/3/1", "1.008", True)  # down
    await recorder.value("1/3/4", 70)
    await bus.write("1/3/2", "1.017", True)  # stop
    await recorder.until(lambda: len(recorder.of("1/3/4")) >= 1 and not _moving(bus))
    stopped_at = bus.value("1/3/4")
    assert isinstance(stopped_at, int | float) and 70 <= stopped_at < 100
    await asyncio.sleep(0.05)  # a few steps' time: it does not move any more
    assert bus.value("1/3/4") == stopped_at
    assert recorder.of("1/3/4")[-1] == stopped_at

    await bus.write("1/3/1", "1.008", False)  # up: fully open
    await recorder.value("1/3/4", 0)

    await bus.write("1/3/5", "5.001", 30)  # slats
    await recorder.value("1/3/6", 30)


def _moving(bus: SimulatedBus) -> bool:
    return any(getattr(d, "moving", False) for d in bus._devices)


async def test_thermostat_target_mode_and_room_temperature(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    await bus.write("1/4/4", "20.102", "economy")
    await recorder.value("1/4/5", "economy")
    recorder.clear()
    await bus.write("1/4/2", "9.001", 20.0)
    await recorder.value("1/4/3", 20.0)
    # the room cools down 0.1 °C per period towards the target, and stops there
    await recorder.value("1/4/1", 20.0, timeout=5)
    temperatures = recorder.of("1/4/1")
    # (one period may have warmed it towards the old target before the write)
    cooling = temperatures[temperatures.index(max(temperatures)) :]
    assert len(cooling) >= 5, temperatures
    assert all(round(a - b, 6) == 0.1 for a, b in itertools.pairwise(cooling))
    await asyncio.sleep(0.2)  # four more periods: it stays at the target
    assert recorder.of("1/4/1")[-1] == 20.0
    assert len(recorder.of("1/4/1")) == len(temperatures)


async def test_temperature_sensors_wander_reproducibly_other_sensors_keep_their_value() -> None:
    async def run(seed: int) -> list[object]:
        recorder = Recorder()
        bus = SimulatedBus(speed=1000, seed=seed)
        await bus.start(recorder)
        await bus.configure(HOUSE)
        await recorder.until(lambda: len(recorder.of("1/5/1")) >= 15, what="15 temperatures")
        await bus.stop()
        assert recorder.of("1/5/2") == [False]  # a window contact does not wander
        assert recorder.of("1/5/3") == [45.0]
        return recorder.of("1/5/1")[:15]

    first = await run(3)
    assert first == await run(3)
    assert first != await run(4)
    assert len(set(first)) > 2
    assert all(isinstance(t, float) and 18.0 < t < 23.0 for t in first)


async def test_reconfigure_keeps_the_state_of_addresses_that_remain(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    await bus.write("1/1/1", "1.001", True)
    await recorder.value("1/1/2", True)
    await bus.write("1/3/3", "5.001", 20)
    await recorder.value("1/3/4", 20)
    recorder.clear()

    hall = obj("hall", "switch", command="1/6/1", state="1/6/2")
    renamed_blind = obj("store", "shutter", position="1/3/3", position_state="1/3/4")
    await bus.configure([HOUSE[0], renamed_blind, hall])
    reported = dict(recorder.values)
    assert reported == {"1/1/2": True, "1/3/4": 20, "1/6/2": False}
    assert bus.value("1/2/4") is None  # the dimmer is gone
    await bus.write("1/3/3", "5.001", 30)  # the shutter continues from where it was
    await recorder.value("1/3/4", 30)
    assert recorder.of("1/3/4") == [20, 25, 30]
    await bus.write("1/2/3", "5.001", 50)  # an address nobody listens to: recorded only
    assert bus.written[-1] == ("1/2/3", "5.001", 50)

    # an address now bound with another type starts afresh
    await bus.configure([obj("lamp", "sensor", state=("1/1/2", "9.001"))])
    assert recorder.values[-1] == ("1/1/2", 20.5)


async def test_bus_down_and_up(bus: SimulatedBus, recorder: Recorder) -> None:
    await bus.write("1/3/3", "5.001", 100)
    await recorder.value("1/3/4", 10)
    bus.set_connected(False)
    assert recorder.statuses[-1].connected is False
    assert bus.status == recorder.statuses[-1]
    started = time.perf_counter()
    with pytest.raises(BusUnavailable):
        await bus.write("1/1/1", "1.001", True)
    assert time.perf_counter() - started < 0.01
    recorder.clear()
    await asyncio.sleep(0.25)  # the shutter reaches the bottom while nobody hears it
    assert recorder.values == []
    bus.set_connected(True)
    assert recorder.statuses[-1].connected is True
    # everything readable is reported again, as read after a reconnection
    assert ("1/3/4", 100) in recorder.values
    assert ("1/4/5", "comfort") in recorder.values
    assert len(recorder.values) == 12


async def test_invalid_values_are_refused_and_not_recorded(bus: SimulatedBus) -> None:
    before = len(bus.written)
    with pytest.raises(ValueInvalid):
        await bus.write("1/1/1", "1.001", 1)
    with pytest.raises(ValueInvalid):
        await bus.write("1/3/3", "5.001", 101)
    with pytest.raises(ValueInvalid):
        await bus.write("1/4/4", "20.102", "sauna")
    assert len(bus.written) == before


async def test_writes_are_fast_and_history_is_bounded(recorder: Recorder) -> None:
    bus = SimulatedBus(speed=1.0, history=100)
    await bus.start(recorder)
    await bus.configure(HOUSE)
    try:
        started = time.perf_counter()
        for i in range(1000):
            await bus.write("1/2/3", "5.001", i % 101)
        took = time.perf_counter() - started
        assert took < 0.5, f"1,000 writes took {took:.3f} s"
        assert len(bus.written) == 100
        assert bus.written[-1] == ("1/2/3", "5.001", 999 % 101)
    finally:
        await bus.stop()


async def test_stop_cancels_everything(recorder: Recorder) -> None:
    bus = SimulatedBus(speed=SPEED)
    with pytest.raises(BusUnavailable):
        await bus.write("1/1/1", "1.001", True)  # not started
    await bus.start(recorder)
    await bus.configure(HOUSE)
    await bus.write("1/3/3", "5.001", 100)
    await bus.write("1/1/1", "1.001", True)
    await bus.stop()
    assert bus.status.connected is False
    assert recorder.statuses[-1] == bus.status
    recorder.clear()
    await asyncio.sleep(0.1)
    assert recorder.values == []
    assert bus._timers == set()
    with pytest.raises(BusUnavailable):
        await bus.write("1/1/1", "1.001", True)


async def test_configured_before_start_reports_at_start(recorder: Recorder) -> None:
    bus = SimulatedBus(speed=SPEED)
    await bus.configure(HOUSE[:1])
    assert recorder.values == []
    await bus.start(recorder)
    try:
        assert recorder.values == [("1/1/2", False)]
    finally:
        await bus.stop()


async def test_a_moving_shutter_keeps_moving_across_a_deploy(
    bus: SimulatedBus, recorder: Recorder
) -> None:
    await bus.write("1/3/3", "5.001", 100)
    await recorder.value("1/3/4", 20)
    await bus.configure(HOUSE)
    await recorder.value("1/3/4", 100)
    steps = [v for v in recorder.of("1/3/4") if isinstance(v, int | float) and v > 0]
    assert steps[-1] == 100
