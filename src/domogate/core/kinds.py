"""Object kinds: what each kind of object is made of on the bus (a data table; pure).

An object has **attributes** (``on``, ``brightness``, ``position``, ``target``, …). Each
attribute is carried by up to two **bindings** of the object: the one commands are written
to, and the one its state comes back on. A telegram on either updates the attribute (as
xknx does); at start the state binding is read (or, without one, the command binding).

======================  =================================================================
type                    attributes (command binding / state binding, datapoint type)
======================  =================================================================
switch                  on (command / state, 1.001)
dimmer                  on (command / state, 1.001);
                        brightness (brightness / brightness_state, 5.001, percent)
shutter                 move (command, 1.008: false = up, true = down; no state);
                        stop (stop, 1.017; no state);
                        position (position / position_state, 5.001, percent, 100 = closed);
                        slats (slats / slats_state, 5.001, percent)
thermostat              temperature (— / temperature, 9.001, read only);
                        target (target / target_state, 9.001);
                        mode (mode / mode_state, 20.102)
scene                   scene (command, 17.001, 1-64)
sensor                  value (— / state, any datapoint type xknx knows; required)
======================  =================================================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class AttributeKind:
    name: str
    write: str | None  # binding key commands are written to
    state: str | None  # binding key the state comes back on
    mains: tuple[int, ...]  # allowed DPT main numbers; empty: any
    default_dpt: str | None
    meaning: str  # what the values are, for error messages
    stateful: bool = True  # False: a pure action (move, stop) with no state to show


@dataclass(frozen=True)
class ObjectKind:
    type: str
    attributes: tuple[AttributeKind, ...]
    main: str  # the attribute a bare value sets (``domogate set light on``)

    def attribute(self, name: str) -> AttributeKind | None:
        return next((a for a in self.attributes if a.name == name), None)

    def binding_keys(self) -> list[str]:
        keys: list[str] = []
        for a in self.attributes:
            keys += [k for k in (a.write, a.state) if k is not None and k not in keys]
        return keys


_ON = AttributeKind("on", "command", "state", (1,), "1.001", "on or off (true/false)")
_PERCENT = "a percentage 0-100"

KINDS: Mapping[str, ObjectKind] = {
    "switch": ObjectKind("switch", (_ON,), "on"),
    "dimmer": ObjectKind(
        "dimmer",
        (
            _ON,
            AttributeKind("brightness", "brightness", "brightness_state", (5,), "5.001", _PERCENT),
        ),
        "brightness",
    ),
    "shutter": ObjectKind(
        "shutter",
        (
            AttributeKind(
                "move", "command", None, (1,), "1.008", "up (false) or down (true)", stateful=False
            ),
            AttributeKind("stop", "stop", None, (1,), "1.017", "true", stateful=False),
            AttributeKind("position", "position", "position_state", (5,), "5.001", _PERCENT),
            AttributeKind("slats", "slats", "slats_state", (5,), "5.001", _PERCENT),
        ),
        "position",
    ),
    "thermostat": ObjectKind(
        "thermostat",
        (
            AttributeKind("temperature", None, "temperature", (9,), "9.001", "a temperature"),
            AttributeKind("target", "target", "target_state", (9,), "9.001", "a temperature"),
            AttributeKind("mode", "mode", "mode_state", (20,), "20.102", "an HVAC mode"),
        ),
        "target",
    ),
    "scene": ObjectKind(
        "scene",
        (AttributeKind("scene", "command", None, (17,), "17.001", "a scene number 1-64"),),
        "scene",
    ),
    "sensor": ObjectKind(
        "sensor", (AttributeKind("value", None, "state", (), None, "a value"),), "value"
    ),
}
