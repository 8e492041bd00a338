"""Resolved objects over their kinds (pure: no I/O): the address index (which telegram
updates what, what to read at start), command checks and typed values. What each kind is
made of, attribute by attribute, is the table in :mod:`domogate.core.kinds`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from domogate.core.kinds import KINDS, AttributeKind, ObjectKind
from domogate.core.values import JsonValue, dpt_main, normalise
from domogate.errors import Forbidden, NotFound, ValueInvalid

if TYPE_CHECKING:
    from domogate.core.sections import ProjectObject

__all__ = [
    "KINDS",
    "AddressIndex",
    "Attribute",
    "AttributeKind",
    "ObjectKind",
    "ResolvedObject",
    "Write",
    "command",
    "parse_typed",
    "resolve",
]


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
