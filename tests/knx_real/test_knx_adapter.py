"""KnxBus against a real knxd: bytes on the bus, decoding, reads, drops and recovery."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest
from xknx.dpt.payload import DPTArray, DPTBinary

from domogate.bus.knx import MAX_WAITING, KnxBus
from domogate.errors import BusUnavailable, ValueInvalid
from domogate.settings import KnxSettings
from tests.support.knxd_peer import KnxdClient, KnxdPeer, Seen, require_private_netns
from tests.support.recorder import Recorder, obj

SETTINGS = KnxSettings(
    connection="tunneling",
    gateway_host="127.0.0.1",
    gateway_port=3671,
    local_ip="127.0.0.1",
    reconnect_interval_s=0.5,
    connect_timeout_s=2.0,
)

OBJECTS = [
    obj("lamp", "switch", command="1/1/1", state="1/1/2"),
    obj("dimmer", "dimmer", command="1/2/1", brightness="1/2/3", brightness_state="1/2/4"),
    obj("room", "sensor", state=("1/3/1", "9.001")),
    obj("heating", "thermostat", temperature="1/4/1", target="1/4/2", target_state="1/4/3"),
]
# state first, else the command address; the thermostat's temperature is read-only
READS = {"1/1/2", "1/2/1", "1/2/4", "1/3/1", "1/4/1", "1/4/3"}


@pytest.fixture
async def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def bus(knxd: KnxdPeer, recorder: Recorder) -> AsyncIterator[KnxBus]:
    bus = KnxBus(SETTINGS)
    await bus.start(recorder)
    try:
        yield bus
    finally:
        await bus.stop()


def reads_of(monitor: KnxdClient) -> set[str]:
    return {t.address for t in monitor.seen if t.kind == "read"}


async def test_writes_reach_the_bus_with_exact_bytes(
    bus: KnxBus, recorder: Recorder, knx_monitor: KnxdClient
) -> None:
    status = await recorder.connected(True)
    assert status.adapter == "knx"
    assert status.detail.startswith("tunnelling to 127.0.0.1:3671")

    await bus.write("1/1/1", "1.001", True)
    await bus.write("1/2/3", "5.001", 40)
    await bus.write("1/4/2", "9.001", 21.5)

    def write_to(address: str) -> object:
        return lambda t: t.kind == "write" and t.address == address

    switch = await knx_monitor.wait_for(write_to("1/1/1"))
    assert switch.payload == DPTBinary(1)
    percent = await knx_monitor.wait_for(write_to("1/2/3"))
    assert percent.payload == DPTArray((0x66,))
    temperature = await knx_monitor.wait_for(write_to("1/4/2"))
    assert temperature.data == bytes([0x0C, 0x33])
    assert switch.source == temperature.source  # the tunnel's individual address

    # our own writes are not reported back as values
    assert recorder.values == []


async def test_invalid_values_are_refused_before_the_bus(
    bus: KnxBus, recorder: Recorder, knx_monitor: KnxdClient
) -> None:
    await recorder.connected(True)
    with pytest.raises(ValueInvalid):
        await bus.write("1/1/1", "1.001", 1)
    with pytest.raises(ValueInvalid):
        await bus.write("1/2/3", "5.001", 140)
    await bus.write("1/1/1", "1.001", False)  # a valid one goes through afterwards
    seen = await knx_monitor.wait_for(lambda t: t.kind == "write")
    assert (seen.address, seen.payload) == ("1/1/1", DPTBinary(0))
    assert len([t for t in knx_monitor.seen if t.kind == "write"]) == 1


async def test_telegrams_from_the_bus_are_decoded_and_reported(
    bus: KnxBus, recorder: Recorder, knx_monitor: KnxdClient
) -> None:
    await bus.configure(OBJECTS)
    await recorder.connected(True)

    await knx_monitor.write_value("1/1/2", "1.001", True)
    await recorder.value("1/1/2", True)
    await knx_monitor.write("1/3/1", bytes([0x0C, 0x33]))  # raw DPT 9 payload
    await recorder.value("1/3/1", 21.5)
    await knx_monitor.write_value("1/2/4", "5.001", 40)
    await recorder.value("1/2/4", 40)
    # a telegram on the command address updates the attribute too
    await knx_monitor.write_value("1/1/1", "1.001", False)
    await recorder.value("1/1/1", False)

    # unknown addresses are ignored; payloads that do not decode are dropped
    await knx_monitor.write_value("7/7/7", "1.001", True)
    await knx_monitor.write("1/3/1", bytes([1, 2, 3]))
    await knx_monitor.write("1/3/1", bytes([0x0C, 0x34]))
    await recorder.value("1/3/1", 21.52)
    assert "7/7/7" not in {a for a, _ in recorder.values}
    assert recorder.of("1/3/1") == [21.5, 21.52]


async def test_states_are_read_at_start_and_answers_reported(
    knxd: KnxdPeer, knx_monitor: KnxdClient
) -> None:
    recorder = Recorder()
    bus = KnxBus(SETTINGS)
    await bus.start(recorder)
    try:
        await bus.configure(OBJECTS)
        await recorder.connected(True)
        for address in READS:
            await knx_monitor.wait_for(lambda t, a=address: t.kind == "read" and t.address == a)
        assert reads_of(knx_monitor) == READS

        await knx_monitor.respond("1/4/3", "9.001", 21.5)
        await recorder.value("1/4/3", 21.5)
        await knx_monitor.respond("1/1/2", "1.001", True)
        await recorder.value("1/1/2", True)

        # a new deployment while connected reads its state addresses again
        knx_monitor.clear()
        await bus.configure([*OBJECTS, obj("hall", "switch", command="1/5/1", state="1/5/2")])
        await knx_monitor.wait_for(lambda t: t.kind == "read" and t.address == "1/5/2")
        for address in READS:
            await knx_monitor.wait_for(lambda t, a=address: t.kind == "read" and t.address == a)
    finally:
        await bus.stop()


@pytest.mark.parametrize("kill", [False, True], ids=["sigterm", "sigkill"])
async def test_bus_drop_is_noticed_and_the_bus_comes_back(
    knxd: KnxdPeer, knx_monitor: KnxdClient, kill: bool
) -> None:
    recorder = Recorder()
    bus = KnxBus(SETTINGS)
    await bus.start(recorder)
    await bus.configure(OBJECTS)
    try:
        await recorder.connected(True)
        assert bus.connections == 1
        for address in READS:  # the tunnel is idle from now on
            await knx_monitor.wait_for(lambda t, a=address: t.kind == "read" and t.address == a)

        # nothing is sent when knxd goes: the loss is noticed by the liveness probe
        knxd.stop(kill=kill)
        dropped = time.monotonic()
        status = await recorder.connected(False, timeout=8)
        noticed = time.monotonic() - dropped
        assert noticed < 6, f"the drop was noticed after {noticed:.1f} s"
        assert "lost" in status.detail

        started = time.perf_counter()
        with pytest.raises(BusUnavailable):
            await bus.write("1/1/1", "1.001", True)
        assert time.perf_counter() - started < 0.1

        knxd.start()
        async with KnxdClient(knxd.socket_path) as monitor:
            status = await recorder.connected(True, timeout=20)
            assert status.detail.startswith("tunnelling to 127.0.0.1:3671")
            assert bus.connections == 2
            for address in READS:  # the states are read again
                await monitor.wait_for(lambda t, a=address: t.kind == "read" and t.address == a)
            await bus.write("1/1/1", "1.001", True)
            seen: Seen = await monitor.wait_for(lambda t: t.kind == "write")
            assert (seen.address, seen.payload) == ("1/1/1", DPTBinary(1))
            await monitor.write_value("1/1/2", "1.001", True)
            await recorder.value("1/1/2", True)
    finally:
        await bus.stop()
    assert bus.status.connected is False


async def test_stop_leaves_no_task_behind(knxd: KnxdPeer) -> None:
    recorder = Recorder()
    before = asyncio.all_tasks()
    bus = KnxBus(SETTINGS)
    await bus.start(recorder)
    await recorder.connected(True)
    await bus.write("1/1/1", "1.001", True)
    await bus.stop()
    assert asyncio.all_tasks() == before
    assert recorder.statuses[-1].connected is False
    with pytest.raises(BusUnavailable):
        await bus.write("1/1/1", "1.001", True)


async def test_write_hands_over_at_once_and_stop_does_not_wait_for_a_backlog(
    knxd: KnxdPeer, knx_monitor: KnxdClient
) -> None:
    recorder = Recorder()
    before = asyncio.all_tasks()
    bus = KnxBus(SETTINGS)
    await bus.start(recorder)
    await recorder.connected(True)
    durations = []
    busy = 0
    for i in range(1000):  # far more than the bus carries in the next seconds
        started = time.perf_counter()
        try:
            await bus.write("1/2/3", "5.001", i % 101)
        except BusUnavailable as exc:
            assert "busy" in exc.message
            busy += 1
        durations.append(time.perf_counter() - started)
    durations.sort()
    p99 = durations[989]
    assert p99 < 0.002, f"write() p99 {p99 * 1000:.3f} ms"
    # about 2 s of telegrams may wait for the line; the rest is refused at once
    assert 1000 - MAX_WAITING - 50 <= busy < 1000 - MAX_WAITING + 50
    await knx_monitor.wait_for(lambda t: t.kind == "write" and t.payload == DPTArray((0,)))
    stopping = time.perf_counter()
    await bus.stop()
    took = time.perf_counter() - stopping
    assert took < 5, f"stop took {took:.1f} s"
    assert asyncio.all_tasks() == before
    sent = [t for t in knx_monitor.seen if t.kind == "write"]
    assert 1 <= len(sent) <= MAX_WAITING + 50  # what waited was sent or dropped, no more


async def test_routing_both_ways() -> None:
    require_private_netns()
    with KnxdPeer(routing=True) as peer:
        recorder = Recorder()
        bus = KnxBus(
            KnxSettings(connection="routing", local_ip="127.0.0.1", individual_address="1.1.250")
        )
        await bus.start(recorder)
        await bus.configure(OBJECTS[:1])
        try:
            async with KnxdClient(peer.socket_path) as monitor:
                status = await recorder.connected(True)
                assert status.detail == "routing on 224.0.23.12"
                await bus.write("1/1/1", "1.001", True)
                seen = await monitor.wait_for(lambda t: t.kind == "write")
                assert (seen.source, seen.address, seen.payload) == (
                    "1.1.250",
                    "1/1/1",
                    DPTBinary(1),
                )
                await monitor.write_value("1/1/2", "1.001", True)
                await recorder.value("1/1/2", True)
        finally:
            await bus.stop()
