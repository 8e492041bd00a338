"""What each kind of object is made of on the bus (pure: no I/O).

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

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domogate.core.values import JsonValue, describe_dpt, dpt_main, is_known_dpt, normalise
from domogate.errors import Forbidden, NotFound, ValueInvalid

if TYPE_CHECKING:
    from domogate.core.project import Loc, Project, ProjectObject


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


# --- resolved objects ------------------------------------------------------------------


@dataclass(frozen=True)
class Attribute:
    """One attribute of one object, with its addresses and datapoint type resolved."""

    object_id: str
    name: str
    dpt: str
    write: str | None  # group address commands go to
    state: str | None  # group address of the state binding
    stateful: bool

    @property
    def listen(self) -> tuple[str, ...]:
        """Addresses whose telegrams update this attribute."""
        if not self.stateful:
            return ()
        return tuple(a for a in (self.state, self.write) if a is not None)

    @property
    def read(self) -> str | None:
        """The address to read at start (state first, as xknx does)."""
        if not self.stateful:
            return None
        return self.state or self.write


@dataclass(frozen=True)
class ResolvedObject:
    id: str
    type: str
    attributes: Mapping[str, Attribute]

    def initial_state(self) -> dict[str, JsonValue]:
        return {name: None for name, a in self.attributes.items() if a.stateful}


def resolve(obj: ProjectObject) -> ResolvedObject:
    """The attributes an object actually has: those with at least one binding."""
    kind = KINDS[obj.type.value]
    attributes: dict[str, Attribute] = {}
    for a in kind.attributes:
        write = obj.bindings.get(a.write) if a.write else None
        state = obj.bindings.get(a.state) if a.state else None
        if write is None and state is None:
            continue
        dpt = (state.dpt if state and state.dpt else None) or (
            write.dpt if write and write.dpt else None
        )
        dpt = dpt or a.default_dpt
        if dpt is None:  # a sensor without its datapoint type; validation refuses it
            continue
        attributes[a.name] = Attribute(
            object_id=obj.id,
            name=a.name,
            dpt=dpt,
            write=write.address if write else None,
            state=state.address if state else None,
            stateful=a.stateful,
        )
    return ResolvedObject(obj.id, obj.type.value, attributes)


@dataclass
class AddressIndex:
    """Which attributes a telegram on a group address updates, and what to read at start."""

    objects: dict[str, ResolvedObject] = field(default_factory=dict)
    by_address: dict[str, list[Attribute]] = field(default_factory=dict)

    @classmethod
    def of(cls, objects: Sequence[ProjectObject]) -> AddressIndex:
        index = cls()
        for obj in objects:
            resolved = resolve(obj)
            index.objects[obj.id] = resolved
            for attribute in resolved.attributes.values():
                for address in attribute.listen:
                    index.by_address.setdefault(address, []).append(attribute)
        return index

    def read_addresses(self) -> dict[str, str]:
        """Address → datapoint type of everything to read at start (each address once)."""
        out: dict[str, str] = {}
        for obj in self.objects.values():
            for attribute in obj.attributes.values():
                if attribute.read is not None:
                    out.setdefault(attribute.read, attribute.dpt)
        return out

    def listened(self) -> dict[str, str]:
        """Address → datapoint type of every address whose telegrams matter."""
        return {address: attrs[0].dpt for address, attrs in self.by_address.items()}

    def written(self) -> dict[str, str]:
        """Address → datapoint type of every address commands are written to."""
        out: dict[str, str] = {}
        for obj in self.objects.values():
            for attribute in obj.attributes.values():
                if attribute.write is not None:
                    out.setdefault(attribute.write, attribute.dpt)
        return out


# --- commands ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    """A command turned into what goes on the bus."""

    object_id: str
    attribute: str
    address: str
    dpt: str
    value: JsonValue  # normalised: what the bus will carry


def command(obj: ResolvedObject, attribute: str, value: object) -> Write:
    """Check one command against an object's kind and datapoint type."""
    kind = KINDS[obj.type]
    attr = obj.attributes.get(attribute)
    if attr is None:
        names = [a.name for a in kind.attributes if a.name in obj.attributes]
        raise NotFound(
            f"{obj.id!r} has no attribute {attribute!r}; it has: " + (", ".join(names) or "none"),
        )
    if attr.write is None:
        raise Forbidden(f"{obj.id}.{attribute} is read only.")
    if attribute == "stop":
        if value is not True:
            raise ValueInvalid(f"{obj.id}.stop: send true to stop, got {value!r}")
        # DPT 1.010 (start/stop) stops with 0; step/stop (1.007) and trigger (1.017) take 1.
        value = dpt_main(attr.dpt) == 1 and attr.dpt != "1.010"
    try:
        normalised = normalise(attr.dpt, value)
    except ValueInvalid as exc:
        meaning = kind.attribute(attribute)
        expected = f"; {attribute} is {meaning.meaning}" if meaning else ""
        raise ValueInvalid(
            f"{obj.id}.{attribute}: {exc.message}{expected}", **exc.details
        ) from None
    return Write(obj.id, attribute, attr.write, attr.dpt, normalised)


_WORDS: Mapping[str, tuple[str | None, JsonValue]] = {
    "on": ("on", True),
    "off": ("on", False),
    "true": (None, True),
    "false": (None, False),
    "up": ("move", False),
    "down": ("move", True),
    "stop": ("stop", True),
}


def parse_typed(obj_type: str, text: str, attribute: str | None = None) -> tuple[str, JsonValue]:
    """What a person typed (``on``, ``50``, ``21.5``, ``comfort``, ``up``) as an attribute
    and a JSON value. The value is checked later, against the datapoint type."""
    kind = KINDS[obj_type]
    word = text.strip().lower()
    value: JsonValue
    if word in _WORDS:
        named, value = _WORDS[word]
        if attribute is None and named is not None and kind.attribute(named) is not None:
            attribute = named
    else:
        try:
            value = int(word)
        except ValueError:
            try:
                value = float(word)
            except ValueError:
                value = text.strip()
    if attribute is None:
        if isinstance(value, str) and kind.attribute("mode") is not None:
            attribute = "mode"
        elif isinstance(value, bool) and kind.attribute("on") is not None:
            attribute = "on"
        else:
            attribute = kind.main
    return attribute, value


# --- validation ------------------------------------------------------------------------


def binding_problems(project: Project) -> Iterator[tuple[Loc, str]]:
    """Bindings that do not fit their object's kind, and addresses bound with two types."""
    first_use: dict[str, tuple[str, str]] = {}  # address -> (dpt, where)
    for i, obj in enumerate(project.objects):
        kind = KINDS[obj.type.value]
        allowed = kind.binding_keys()
        for key, binding in obj.bindings.items():
            loc: Loc = ("objects", i, "bindings", key)
            attribute = next((a for a in kind.attributes if key in (a.write, a.state)), None)
            if attribute is None:
                yield (
                    loc,
                    f"object {obj.id!r}: a {kind.type} has no binding {key!r}; "
                    f"its bindings are: {', '.join(allowed)}",
                )
                continue
            dpt = binding.dpt or attribute.default_dpt
            if dpt is None:
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r} needs its datapoint type "
                    "(e.g. dpt: '9.001' for a temperature), so that values can be decoded",
                )
                continue
            if not is_known_dpt(dpt):
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r}: unknown datapoint type {dpt!r}",
                )
                continue
            if attribute.mains and dpt_main(dpt) not in attribute.mains:
                wanted = " or ".join(f"{m}.x" for m in attribute.mains)
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r} carries {attribute.meaning}, "
                    f"so its datapoint type must be DPT {wanted} (got {describe_dpt(dpt)})",
                )
                continue
            where = f"objects[{i}].bindings.{key}"
            seen = first_use.setdefault(binding.address, (dpt, where))
            if seen[1] != where and dpt_main(seen[0]) != dpt_main(dpt):
                yield (
                    (*loc, "address"),
                    f"object {obj.id!r}: address {binding.address} is bound as "
                    f"{describe_dpt(dpt)} here but as {describe_dpt(seen[0])} by {seen[1]}",
                )
