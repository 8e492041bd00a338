"""build_bus and the KNX settings checks; KnxBus with no gateway to talk to."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path

import pytest
from xknx.io import ConnectionType

from domogate.bus.factory import build_bus
from domogate.bus.knx import KnxBus, connection_config
from domogate.bus.simulated import SimulatedBus
from domogate.errors import BusUnavailable, InvalidInput
from domogate.settings import BusSettings, KnxSettings
from tests.support.recorder import Recorder


def test_simulated_by_default() -> None:
    bus = build_bus(BusSettings(simulation_speed=3.0))
    assert isinstance(bus, SimulatedBus)
    assert bus.speed == 3.0
    assert bus.status.adapter == "simulated"


def test_knx_with_a_gateway() -> None:
    bus = build_bus(BusSettings(adapter="knx", knx=KnxSettings(gateway_host="10.0.0.9")))
    assert isinstance(bus, KnxBus)
    assert bus.status.connected is False
    assert bus.status.detail == "not started"


@pytest.mark.parametrize(
    ("settings", "key", "words"),
    [
        (BusSettings(adapter="modbus"), "bus.adapter", "simulated or knx"),
        (BusSettings(simulation_speed=0), "bus.simulation_speed", "positive"),
        (BusSettings(adapter="knx"), "knx.gateway_host", "gateway"),
        (
            BusSettings(adapter="knx", knx=KnxSettings(connection="tunneling_tcp")),
            "knx.gateway_host",
            "tunneling_tcp",
        ),
        (
            BusSettings(adapter="knx", knx=KnxSettings(connection="usb", gateway_host="h")),
            "knx.connection",
            "routing",
        ),
        (
            BusSettings(adapter="knx", knx=KnxSettings(gateway_host="h", gateway_port=0)),
            "knx.gateway_port",
            "1-65535",
        ),
        (
            BusSettings(adapter="knx", knx=KnxSettings(gateway_host="h", individual_address="1.1")),
            "knx.individual_address",
            "area.line.device",
        ),
        (
            BusSettings(adapter="knx", knx=KnxSettings(connection="routing_secure")),
            "knx.keyring",
            "keyring",
        ),
    ],
)
def test_clear_errors(settings: BusSettings, key: str, words: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        build_bus(settings)
    assert caught.value.details["key"] == key
    assert words in caught.value.message


def test_keyring_checks(tmp_path: Path) -> None:
    missing = KnxSettings(connection="routing", keyring=tmp_path / "none.knxkeys")
    with pytest.raises(InvalidInput, match="does not exist"):
        connection_config(missing)
    keyring = tmp_path / "house.knxkeys"
    keyring.write_text("<Keyring/>")
    with pytest.raises(InvalidInput, match="password") as caught:
        connection_config(KnxSettings(connection="routing", keyring=keyring))
    assert caught.value.details["key"] == "knx.keyring_password"
    with pytest.raises(InvalidInput, match="not UDP tunnelling"):
        connection_config(KnxSettings(gateway_host="h", keyring=keyring, keyring_password="pw"))

    secret = "s3cret-keyring-pw"
    tcp = connection_config(
        KnxSettings(
            connection="tunnelling-tcp",  # spelling variants are accepted
            gateway_host="10.0.0.9",
            keyring=keyring,
            keyring_password=secret,
        )
    )
    assert tcp.config.connection_type is ConnectionType.TUNNELING_TCP_SECURE
    assert tcp.config.secure_config is not None
    assert tcp.describe == "secure tunnelling over TCP to 10.0.0.9:3671"
    routing = connection_config(
        KnxSettings(connection="routing", keyring=keyring, keyring_password=secret)
    )
    assert routing.config.connection_type is ConnectionType.ROUTING_SECURE
    assert secret not in repr(KnxSettings(keyring=keyring, keyring_password=secret))


def test_connection_descriptions() -> None:
    assert (
        connection_config(KnxSettings(gateway_host="127.0.0.1")).describe
        == "tunnelling to 127.0.0.1:3671"
    )
    routing = connection_config(KnxSettings(connection="routing", individual_address="1.1.250"))
    assert routing.describe == "routing on 224.0.23.12"
    assert str(routing.config.individual_address) == "1.1.250"
    assert connection_config(KnxSettings(connection="automatic")).describe == (
        "a gateway found automatically"
    )


def _silent_udp_port() -> int:
    """A loopback UDP port nobody listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_knx_without_gateway_keeps_trying_and_refuses_writes_at_once() -> None:
    recorder = Recorder()
    before = asyncio.all_tasks()
    bus = KnxBus(
        KnxSettings(
            gateway_host="127.0.0.1",
            gateway_port=_silent_udp_port(),
            local_ip="127.0.0.1",
            reconnect_interval_s=0.2,
            connect_timeout_s=0.5,
        )
    )
    started = time.perf_counter()
    await bus.start(recorder)
    assert time.perf_counter() - started < 0.1  # start() does not wait for the gateway
    assert recorder.statuses[0].detail.startswith("connecting (tunnelling to 127.0.0.1:")
    await recorder.until(
        lambda: any("cannot connect" in s.detail for s in recorder.statuses),
        timeout=5,
        what="a failed attempt",
    )
    assert all(not s.connected for s in recorder.statuses)
    started = time.perf_counter()
    with pytest.raises(BusUnavailable, match="not connected"):
        await bus.write("1/1/1", "1.001", True)
    assert time.perf_counter() - started < 0.1
    stopping = time.perf_counter()
    await bus.stop()
    assert time.perf_counter() - stopping < 3
    assert bus.status.detail == "stopped"
    assert asyncio.all_tasks() == before

    # it can be started again after a stop
    recorder.clear()
    await bus.start(recorder)
    await recorder.until(
        lambda: any("cannot connect" in s.detail for s in recorder.statuses), timeout=5
    )
    await bus.stop()
    assert asyncio.all_tasks() == before
