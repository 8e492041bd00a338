"""Object values and KNX datapoint types (pure: no I/O).

Values travel as JSON: booleans for DPT 1.x, numbers for numeric types, lowercase names
for enumerations (``"comfort"`` for DPT 20.102), text for DPT 16, mappings for compound
types (``{"scene_number": 3, "learn": false}`` for DPT 18.001). The encoding itself is
xknx's datapoint transcoders (pure functions, no I/O); this module only makes the JSON
side strict: ``1`` is not a boolean, ``true`` is not a percentage.
"""

from __future__ import annotations

import functools
import math
from enum import Enum
from typing import Any

from xknx.dpt.dpt import DPTBase, DPTComplex, DPTEnum, DPTNumeric
from xknx.dpt.dpt_1 import DPT1BitEnum
from xknx.dpt.dpt_16 import DPTString
from xknx.dpt.payload import DPTArray, DPTBinary
from xknx.exceptions import XKNXException

from domogate.errors import ValueInvalid

JsonValue = bool | int | float | str | dict[str, Any] | None
Payload = DPTArray | DPTBinary


@functools.cache
def transcoder(dpt: str) -> type[DPTBase] | None:
    """xknx's transcoder for a datapoint type such as ``"9.001"``, or None if unknown."""
    try:
        return DPTBase.parse_transcoder(dpt)
    except (ValueError, TypeError, XKNXException):
        return None


def is_known_dpt(dpt: str) -> bool:
    return transcoder(dpt) is not None


def dpt_main(dpt: str) -> int:
    return int(dpt.split(".")[0])


def _is_boolean_dpt(cls: type[DPTBase]) -> bool:
    return cls.dpt_main_number == 1 and (
        issubclass(cls, DPT1BitEnum) or cls.payload_type is DPTBinary
    )


def describe_dpt(dpt: str) -> str:
    cls = transcoder(dpt)
    if cls is None:
        return f"DPT {dpt}"
    return f"DPT {dpt} ({cls.value_type})"


def unit_of(dpt: str) -> str | None:
    """The unit of a datapoint type's values (``"°C"`` for 9.001, ``"%"`` for 5.001)."""
    cls = transcoder(dpt)
    unit = getattr(cls, "unit", None) if cls is not None else None
    return unit if isinstance(unit, str) and unit else None


def value_to_json(value: Any) -> JsonValue:
    """A value decoded by xknx, as JSON."""
    if isinstance(value, Enum):
        if isinstance(value.value, bool):
            return value.value
        return value.name.lower()
    if hasattr(value, "as_dict"):
        return dict(value.as_dict())
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return round(value, 6)
    return str(value)


def _expect(condition: bool, dpt: str, expected: str, value: object) -> None:
    if not condition:
        raise ValueInvalid(
            f"{describe_dpt(dpt)} expects {expected}, got {value!r}",
            dpt=dpt,
            expected=expected,
        )


def encode(dpt: str, value: object) -> Payload:
    """The KNX payload of a JSON value; :class:`ValueInvalid` says why it does not fit."""
    cls = transcoder(dpt)
    if cls is None:
        raise ValueInvalid(f"unknown datapoint type {dpt}", dpt=dpt)
    if _is_boolean_dpt(cls):
        _expect(isinstance(value, bool), dpt, "true or false", value)
    elif issubclass(cls, DPTNumeric):
        _expect(
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and (isinstance(value, int) or math.isfinite(value)),
            dpt,
            "a number",
            value,
        )
    elif issubclass(cls, DPTEnum):
        valid = [m.name.lower() for m in cls.get_valid_values()]
        _expect(
            isinstance(value, str) and value.lower() in valid,
            dpt,
            "one of " + ", ".join(valid),
            value,
        )
        assert isinstance(value, str)
        value = value.lower()
    elif issubclass(cls, DPTString):
        _expect(isinstance(value, str), dpt, "text", value)
    elif issubclass(cls, DPTComplex):
        _expect(isinstance(value, dict), dpt, "a mapping", value)
    try:
        return cls.to_knx(value)
    except (XKNXException, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
        limits = ""
        if issubclass(cls, DPTNumeric):
            limits = f" between {cls.value_min} and {cls.value_max}"
            if cls.unit:
                limits += f" {cls.unit}"
        raise ValueInvalid(
            f"{value!r} does not fit {describe_dpt(dpt)}{limits}",
            dpt=dpt,
        ) from exc


def decode(dpt: str, payload: Payload) -> JsonValue:
    """The JSON value of a KNX payload; :class:`ValueInvalid` when it does not decode."""
    cls = transcoder(dpt)
    if cls is None:
        raise ValueInvalid(f"unknown datapoint type {dpt}", dpt=dpt)
    try:
        return value_to_json(cls.from_knx(payload))
    except (XKNXException, ValueError, TypeError) as exc:
        raise ValueInvalid(f"payload does not decode as {describe_dpt(dpt)}") from exc


def normalise(dpt: str, value: object) -> JsonValue:
    """The value as the bus will carry it (e.g. 21.53 °C becomes 21.52 in DPT 9)."""
    return decode(dpt, encode(dpt, value))
