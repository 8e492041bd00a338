"""Operating objects: permissions on every command, datapoint checks, states, fan-out."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from domogate.errors import BusUnavailable, Forbidden, NotFound, ValueInvalid
from domogate.services.context import Caller, RequestContext
from domogate.services.events import BusStatusChanged, Event, ObjectStateChanged
from tests.support.services_env import ADMIN_PASSWORD, Env, project_data


async def _callers(env: Env) -> tuple[Caller, Caller]:
    alice = await env.caller(await env.login("alice", ADMIN_PASSWORD))
    bob = await env.caller(await env.login("bob", "bob-password"))
    return alice, bob


def _record(env: Env) -> list[Event]:
    events: list[Event] = []
    env.services.events.subscribe(events.append)
    return events


async def test_states_follow_the_groups_export_policy(env: Env) -> None:
    objects = env.services.objects
    family = objects.states_for("family")
    guests = objects.states_for("guests")
    assert set(family) == {"hall", "safe", "kitchen", "bedroom"}
    assert set(guests) == {"hall", "kitchen"}
    assert family["kitchen"] == {"on": None, "brightness": None}
    assert family["bedroom"] == {"temperature": None, "target": None, "mode": None}


async def test_a_command_goes_to_the_bus_and_updates_the_state(env: Env) -> None:
    alice, _ = await _callers(env)
    events = _record(env)
    write = await env.services.objects.command(alice, "hall", "on", True)
    assert (write.address, write.dpt, write.value) == ("1/1/1", "1.001", True)
    assert env.bus.written == [("1/1/1", "1.001", True)]
    assert env.services.objects.state("hall") == {"on": True}
    changed = [e for e in events if isinstance(e, ObjectStateChanged)]
    assert changed == [ObjectStateChanged("hall", {"on": True}, None)]


async def test_values_are_normalised_to_what_the_bus_carries(env: Env) -> None:
    alice, _ = await _callers(env)
    write = await env.services.objects.command(alice, "bedroom", "target", 21.53)
    assert write.value == 21.52  # DPT 9: 0.01 steps of a 2-byte float
    write = await env.services.objects.command(alice, "bedroom", "mode", "Economy")
    assert write.value == "economy"


async def test_see_but_not_operate_is_forbidden_and_nothing_is_sent(env: Env) -> None:
    _, bob = await _callers(env)
    with pytest.raises(Forbidden):
        await env.services.objects.command(bob, "kitchen", "on", True)
    assert env.bus.written == []


async def test_an_object_the_group_may_not_see_does_not_exist_for_it(env: Env) -> None:
    _, bob = await _callers(env)
    with pytest.raises(NotFound) as info:
        await env.services.objects.command(bob, "safe", "on", True)
    assert "safe" in info.value.message
    with pytest.raises(NotFound):
        await env.services.objects.command(bob, "no-such-object", "on", True)
    assert env.bus.written == []


@pytest.mark.parametrize(
    ("object_id", "attribute", "value", "error"),
    [
        ("hall", "on", 1, ValueInvalid),  # 1 is not a boolean
        ("hall", "on", "on", ValueInvalid),
        ("kitchen", "brightness", 101, ValueInvalid),
        ("kitchen", "brightness", True, ValueInvalid),  # true is not a percentage
        ("bedroom", "mode", "party", ValueInvalid),
        ("bedroom", "target", float("nan"), ValueInvalid),
        ("bedroom", "temperature", 20.0, Forbidden),  # read only
        ("hall", "brightness", 10, NotFound),  # a switch has no brightness
    ],
)
async def test_bad_commands_are_refused_before_the_bus(
    env: Env, object_id: str, attribute: str, value: Any, error: type[Exception]
) -> None:
    alice, _ = await _callers(env)
    with pytest.raises(error):
        await env.services.objects.command(alice, object_id, attribute, value)
    assert env.bus.written == []


async def test_value_errors_say_which_object_and_why(env: Env) -> None:
    alice, _ = await _callers(env)
    with pytest.raises(ValueInvalid) as info:
        await env.services.objects.command(alice, "kitchen", "brightness", 140)
    message = info.value.message
    assert "kitchen.brightness" in message and "5.001" in message and "percentage" in message


async def test_commands_fail_fast_while_the_bus_is_down(env: Env) -> None:
    alice, _ = await _callers(env)
    events = _record(env)
    env.bus.set_connected(False)
    assert env.services.objects.bus_status.connected is False
    assert any(isinstance(e, BusStatusChanged) and not e.status.connected for e in events)
    started = time.perf_counter()
    with pytest.raises(BusUnavailable):
        await env.services.objects.command(alice, "hall", "on", True)
    assert time.perf_counter() - started < 0.1
    assert env.services.objects.state("hall") == {"on": None}
    env.bus.set_connected(True)
    await env.services.objects.command(alice, "hall", "on", True)


async def test_telegrams_update_states_and_carry_their_audience(env: Env) -> None:
    events = _record(env)
    env.bus.inject("1/2/4", 40)  # kitchen brightness feedback
    env.bus.inject("1/1/9", True)  # the safe: family only
    env.bus.inject("1/1/9", True)  # the same value again: no change to push
    env.bus.inject("7/7/7", True)  # an address no object uses
    changed = [e for e in events if isinstance(e, ObjectStateChanged)]
    assert changed == [
        ObjectStateChanged("kitchen", {"on": None, "brightness": 40}, None),
        ObjectStateChanged("safe", {"on": True}, frozenset({"family"})),
    ]


async def test_a_deploy_keeps_the_states_of_objects_that_remain(env: Env) -> None:
    env.bus.inject("1/1/1", True)
    env.bus.inject("1/2/4", 40)
    data = project_data()
    data["objects"] = [o for o in data["objects"] if o["id"] != "kitchen"]
    data["objects"].append(
        {
            "id": "outside",
            "name": "Outside",
            "type": "sensor",
            "page": "ground",
            "bindings": {"state": {"address": "4/1/1", "dpt": "9.001"}},
        }
    )
    from tests.support.services_env import SERVICE_PASSWORD

    await env.services.deploy.deploy(RequestContext("integrator"), data, password=SERVICE_PASSWORD)
    states = env.services.objects.states_for("family")
    assert states["hall"] == {"on": True}
    assert "kitchen" not in states
    assert states["outside"] == {"value": None}
    for _ in range(5):
        await asyncio.sleep(0)
    assert "outside" in env.bus.configured[-1] and "kitchen" not in env.bus.configured[-1]
    env.bus.inject("4/1/1", 3.5)
    assert env.services.objects.state("outside") == {"value": 3.5}


async def test_a_rebound_or_retyped_attribute_forgets_its_value(env: Env) -> None:
    env.bus.inject("1/1/1", True)  # hall on
    env.bus.inject("1/2/4", 40)  # kitchen brightness
    data = project_data()
    for obj in data["objects"]:
        if obj["id"] == "hall":
            obj["bindings"]["command"]["address"] = "5/5/5"  # another actuator
        if obj["id"] == "kitchen":
            obj["bindings"]["brightness_state"]["dpt"] = "5.010"  # another unit
    from tests.support.services_env import SERVICE_PASSWORD

    await env.services.deploy.deploy(RequestContext("integrator"), data, password=SERVICE_PASSWORD)
    states = env.services.objects.states_for("family")
    assert states["hall"] == {"on": None}
    assert states["kitchen"]["brightness"] is None


async def test_commands_per_user_are_limited(env: Env) -> None:
    alice, bob = await _callers(env)
    from domogate.errors import RateLimited

    for _ in range(50):
        await env.services.objects.command(alice, "hall", "on", True)
    with pytest.raises(RateLimited):
        await env.services.objects.command(alice, "hall", "on", True)
    await env.services.objects.command(bob, "hall", "on", True)  # others are not held up
    env.clock.advance(1)
    await env.services.objects.command(alice, "hall", "on", True)
