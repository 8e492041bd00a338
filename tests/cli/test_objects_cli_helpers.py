"""The pure helpers of `domogate state`, `set` and `watch`."""

from __future__ import annotations

import pytest

from domogate.cli.objects_cmd import find_object, format_state, parse_value
from domogate.errors import InvalidInput, NotFound

DIMMER = {
    "id": "kitchen",
    "name": "Kitchen",
    "type": "dimmer",
    "attributes": {"on": {"dpt": "1.001"}, "brightness": {"dpt": "5.001"}},
}
SHUTTER = {
    "id": "blind",
    "name": "Blind",
    "type": "shutter",
    "attributes": {"move": {"dpt": "1.008"}, "position": {"dpt": "5.001"}},
}
THERMOSTAT = {
    "id": "bedroom",
    "name": "Bedroom",
    "type": "thermostat",
    "attributes": {"temperature": {"dpt": "9.001"}, "target": {"dpt": "9.001"}},
}


def test_objects_are_found_by_id_then_by_name_ignoring_case() -> None:
    objects = [DIMMER, SHUTTER, {"id": "kitchen-2", "name": "Kitchen"}]
    assert find_object(objects, "BLIND") is SHUTTER
    assert find_object(objects, "kitchen") is DIMMER  # the id wins over the two names
    with pytest.raises(InvalidInput, match="several objects"):
        find_object([{"id": "k1", "name": "Kitchen"}, {"id": "k2", "name": "kitchen"}], "Kitchen ")
    with pytest.raises(NotFound, match="known objects: kitchen, blind"):
        find_object([DIMMER, SHUTTER], "garage")


def test_states_read_like_a_person_would_say_them() -> None:
    assert format_state(DIMMER, {"on": False, "brightness": 40}) == "off, brightness 40 %"
    assert format_state(SHUTTER, {"position": 30}) == "30 %"
    assert format_state(THERMOSTAT, {"temperature": 20.5, "target": None}) == (
        "temperature 20.5 °C, target ?"
    )
    assert format_state(DIMMER, None) == "—"


@pytest.mark.parametrize(
    ("obj", "typed", "attribute", "expected"),
    [
        (DIMMER, "on", None, ("on", True)),
        (DIMMER, "OFF", None, ("on", False)),
        (DIMMER, "40", None, ("brightness", 40)),
        (SHUTTER, "down", None, ("move", True)),
        (SHUTTER, "up", None, ("move", False)),
        (SHUTTER, "stop", None, ("stop", True)),
        (SHUTTER, "30", "slats", ("slats", 30)),
        (THERMOSTAT, "21.5", None, ("target", 21.5)),
        (THERMOSTAT, "comfort", None, ("mode", "comfort")),
        (DIMMER, '{"x": 1}', "brightness", ("brightness", {"x": 1})),
    ],
)
def test_typed_values_become_attributes_and_json(
    obj: dict[str, object], typed: str, attribute: str | None, expected: tuple[str, object]
) -> None:
    assert parse_value(obj, typed, attribute) == expected


def test_broken_json_is_refused_with_the_text() -> None:
    with pytest.raises(InvalidInput, match="not valid JSON"):
        parse_value(DIMMER, "{oops", None)
