"""Object kinds, bindings and datapoint values (pure rules)."""

from __future__ import annotations

from typing import Any

import pytest
from xknx.dpt.payload import DPTArray, DPTBinary

from domogate.core import values
from domogate.core.objects import AddressIndex, command, parse_typed, resolve
from domogate.core.project import validate_project_data
from domogate.errors import Forbidden, NotFound, ProjectInvalid, ValueInvalid


def project(*objects: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": "House",
        "pages": [{"id": "p", "title": "Page"}],
        "objects": [{"name": o["id"].title(), "page": "p", **o} for o in objects],
    }


def problems(*objects: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ProjectInvalid) as info:
        validate_project_data(project(*objects))
    return [(p["path"], p["message"]) for p in info.value.details["problems"]]


def b(address: str, dpt: str | None = None) -> dict[str, Any]:
    return {"address": address} if dpt is None else {"address": address, "dpt": dpt}


SHUTTER = {
    "id": "blind",
    "type": "shutter",
    "bindings": {
        "command": b("2/1/1", "1.008"),
        "stop": b("2/1/2", "1.010"),
        "position": b("2/1/3", "5.001"),
        "position_state": b("2/1/4", "5.001"),
    },
}
THERMOSTAT = {
    "id": "room",
    "type": "thermostat",
    "bindings": {
        "temperature": b("3/1/1", "9.001"),
        "target": b("3/1/2"),
        "mode": b("3/1/4", "20.102"),
    },
}


# --- validation ---------------------------------------------------------------------------


def test_a_binding_the_kind_does_not_have_is_named_with_the_allowed_ones() -> None:
    found = problems({"id": "lamp", "type": "switch", "bindings": {"brightness": b("1/1/1")}})
    assert found == [
        (
            "objects[0].bindings.brightness",
            "object 'lamp': a switch has no binding 'brightness'; its bindings are: command, state",
        )
    ]


def test_a_datapoint_type_of_the_wrong_family_says_what_is_expected() -> None:
    [(path, message)] = problems(
        {"id": "dim", "type": "dimmer", "bindings": {"brightness": b("1/2/3", "9.001")}}
    )
    assert path == "objects[0].bindings.brightness.dpt"
    assert "a percentage 0-100" in message and "DPT 5.x" in message and "9.001" in message


def test_sensors_need_their_datapoint_type_and_unknown_types_are_refused() -> None:
    found = problems(
        {"id": "t", "type": "sensor", "bindings": {"state": b("4/1/1")}},
        {"id": "u", "type": "sensor", "bindings": {"state": b("4/1/2", "999.001")}},
    )
    assert found[0][0] == "objects[0].bindings.state.dpt" and "needs its datapoint" in found[0][1]
    assert found[1] == (
        "objects[1].bindings.state.dpt",
        "object 'u': binding 'state': unknown datapoint type '999.001'",
    )


def test_one_address_bound_with_two_kinds_of_value_is_refused() -> None:
    [(path, message)] = problems(
        {"id": "a", "type": "switch", "bindings": {"command": b("1/1/1", "1.001")}},
        {"id": "c", "type": "sensor", "bindings": {"state": b("1/1/1", "9.001")}},
    )
    assert path == "objects[1].bindings.state.address"
    assert "objects[0].bindings.command" in message


def test_the_same_address_with_the_same_kind_of_value_is_fine() -> None:
    validate_project_data(
        project(
            {"id": "a", "type": "switch", "bindings": {"command": b("1/1/1", "1.001")}},
            {"id": "c", "type": "switch", "bindings": {"command": b("1/1/1", "1.001")}},
        )
    )


# --- resolution and the address index ----------------------------------------------------


def test_attributes_exist_where_bound_with_their_default_types() -> None:
    room = resolve(validate_project_data(project(THERMOSTAT)).objects[0])
    assert set(room.attributes) == {"temperature", "target", "mode"}
    assert room.attributes["target"].dpt == "9.001"  # the default for a set point
    assert room.attributes["temperature"].write is None
    assert room.initial_state() == {"temperature": None, "target": None, "mode": None}


def test_the_index_knows_what_each_telegram_updates_and_what_to_read() -> None:
    parsed = validate_project_data(project(SHUTTER, THERMOSTAT))
    index = AddressIndex.of(parsed.objects)
    assert [a.name for a in index.by_address["2/1/4"]] == ["position"]
    assert [a.name for a in index.by_address["2/1/3"]] == ["position"]  # the command too
    assert "2/1/1" not in index.by_address  # move has no state
    assert index.read_addresses() == {
        "2/1/4": "5.001",
        "3/1/1": "9.001",
        "3/1/2": "9.001",
        "3/1/4": "20.102",
    }
    assert index.written()["2/1/2"] == "1.010"


# --- commands ----------------------------------------------------------------------------------


def test_commands_are_checked_and_normalised() -> None:
    parsed = validate_project_data(project(SHUTTER, THERMOSTAT))
    blind, room = (resolve(o) for o in parsed.objects)
    write = command(blind, "position", 40)
    assert (write.address, write.dpt, write.value) == ("2/1/3", "5.001", 40)
    assert command(blind, "stop", True).value is False  # DPT 1.010: 0 means stop
    with pytest.raises(ValueInvalid, match="send true to stop"):
        command(blind, "stop", "anything")
    assert command(room, "target", 21.53).value == 21.52
    with pytest.raises(Forbidden):
        command(room, "temperature", 20)
    with pytest.raises(NotFound, match="it has: move, stop, position"):
        command(blind, "brightness", 1)
    with pytest.raises(ValueInvalid, match=r"blind\.position: .*between 0 and 100"):
        command(blind, "position", 101)


@pytest.mark.parametrize(
    ("obj_type", "typed", "attribute", "expected"),
    [
        ("switch", "ON", None, ("on", True)),
        ("dimmer", "55", None, ("brightness", 55)),
        ("dimmer", "off", None, ("on", False)),
        ("shutter", "down", None, ("move", True)),
        ("thermostat", "19.5", None, ("target", 19.5)),
        ("thermostat", "economy", None, ("mode", "economy")),
        ("scene", "3", None, ("scene", 3)),
        ("sensor", "12", None, ("value", 12)),
        ("shutter", "10", "slats", ("slats", 10)),
    ],
)
def test_typed_values(
    obj_type: str, typed: str, attribute: str | None, expected: tuple[str, object]
) -> None:
    assert parse_typed(obj_type, typed, attribute) == expected


# --- values ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dpt", "value", "payload"),
    [
        ("1.001", True, DPTBinary(1)),
        ("5.001", 40, DPTArray((0x66,))),
        ("9.001", 21.5, DPTArray((0x0C, 0x33))),
        ("20.102", "comfort", DPTArray((0x01,))),
        ("17.001", 64, DPTArray((0x3F,))),
    ],
)
def test_values_encode_as_knx_expects_and_decode_back(
    dpt: str, value: object, payload: object
) -> None:
    assert values.encode(dpt, value) == payload
    assert values.decode(dpt, values.encode(dpt, value)) == value


@pytest.mark.parametrize(
    ("dpt", "value"),
    [
        ("1.001", 1),  # 1 is not a boolean
        ("1.001", "on"),
        ("5.001", True),  # true is not a percentage
        ("5.001", 101),
        ("9.001", "21"),
        ("9.001", float("inf")),
        ("20.102", "party"),
        ("17.001", 0),
        ("18.001", 3),
        ("999.001", 1),
    ],
)
def test_values_of_the_wrong_kind_are_refused(dpt: str, value: object) -> None:
    with pytest.raises(ValueInvalid):
        values.encode(dpt, value)


def test_compound_values_are_mappings_and_units_are_known() -> None:
    scene = {"scene_number": 3, "learn": False}
    assert values.normalise("18.001", scene) == scene
    assert values.unit_of("9.001") == "°C" and values.unit_of("1.001") is None
    with pytest.raises(ValueInvalid):
        values.decode("9.001", DPTBinary(1))
