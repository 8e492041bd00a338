"""ETS import, step 1: what the export describes (:func:`candidates`): ETS 6 functions
first, then every group address no function uses, by its datapoint type."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from domogate.core.ets.naming import address_key, format_dpt, label, looks_like_status, make_id
from domogate.core.ets.pages import IMPORTED_PAGE, main_group_pages, page_of_address, room_pages
from domogate.core.ets.results import Candidate, PlannedBinding, PlannedPage, Skipped
from domogate.core.ets.tables import (
    FUNCTION_TYPES,
    ROLE_BINDINGS,
    ROLE_DPTS,
    SENSOR_BOOLEANS,
    UNSUPPORTED_ROLES,
)
from domogate.core.kinds import KINDS
from domogate.core.values import dpt_main, is_known_dpt


@dataclass
class _Found:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _ga_label(ga: Mapping[str, Any], address: str) -> str:
    return label(str(ga.get("name") or ""), f"Group address {address}")


def _usable_dpt(dpt: str | None, address: str, name: str, out: _Found) -> str | None:
    if dpt is None:
        out.skipped.append(Skipped(address, name, "no datapoint type"))
        return None
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{3})?", dpt) or not is_known_dpt(dpt):
        out.skipped.append(Skipped(address, name, f"datapoint type {dpt} is not supported"))
        return None
    return dpt


def _function_candidate(
    function: Mapping[str, Any],
    group_addresses: Mapping[str, Any],
    rooms: Mapping[str, PlannedPage],
    mains: Mapping[str, PlannedPage],
    out: _Found,
) -> tuple[set[str], dict[str, PlannedPage]]:
    """Add the function's object; return the addresses it handles (binds, or reports as
    skipped) and those it leaves to the datapoint-type rules (with their page)."""
    identifier = str(function.get("identifier") or "")
    fallback_name = str(function.get("usage_text") or "") or f"Function {identifier}"
    name = label(str(function.get("name") or ""), label(fallback_name, "Function"))
    refs: Mapping[str, Any] = function.get("group_addresses") or {}
    addresses = sorted(refs, key=address_key)
    first_page = page_of_address(addresses[0], mains) if addresses else PlannedPage(*IMPORTED_PAGE)
    page = rooms.get(str(function.get("space_id") or "")) or first_page
    object_type = FUNCTION_TYPES.get(str(function.get("function_type") or ""))
    released = dict.fromkeys(addresses, page)
    if object_type is None:
        return set(), released  # a custom function: its addresses, one by one, in its room

    roles = {str((refs[a] or {}).get("role") or "") for a in addresses}
    role_keys = dict(ROLE_BINDINGS[object_type])
    if "InfoDimmingValue" in roles and "DimmingValue" not in roles:
        role_keys["InfoDimmingValue"] = "brightness"  # the function's only brightness
    bindings: list[PlannedBinding] = []
    used_keys: set[str] = set()
    handled: set[str] = set()  # bound, or skipped with a reason
    for address in addresses:
        role = str((refs[address] or {}).get("role") or "")
        ga = group_addresses.get(address) or {}
        ga_name = _ga_label(ga, address)
        if role in UNSUPPORTED_ROLES:
            out.skipped.append(Skipped(address, ga_name, UNSUPPORTED_ROLES[role]))
            handled.add(address)
            released.pop(address)
            continue
        key = role_keys.get(role)
        if key is None or key in used_keys:
            continue  # left to the datapoint-type rules
        dpt = format_dpt(ga.get("dpt")) or ROLE_DPTS.get(role)
        attribute = next(a for a in KINDS[object_type].attributes if key in (a.write, a.state))
        if (
            dpt is None
            or not is_known_dpt(dpt)
            or (attribute.mains and dpt_main(dpt) not in attribute.mains)
        ):
            continue  # a datapoint type that does not fit: left to the rules as well
        bindings.append(PlannedBinding(key, address, dpt))
        used_keys.add(key)
        handled.add(address)
        released.pop(address)
    if not bindings:
        out.skipped.append(
            Skipped(None, name, f"function {identifier}: no group address with a usable role")
        )
        return handled, released
    order = KINDS[object_type].binding_keys()
    bindings.sort(key=lambda b: order.index(b.key))
    out.candidates.append(
        Candidate(
            id=make_id(name, identifier.replace("-", "").lower(), "function"),
            name=name,
            type=object_type,
            page=page,
            bindings=tuple(bindings),
            source=f"function {identifier}",
        )
    )
    return handled, released


def _address_candidate(address: str, ga: Mapping[str, Any], page: PlannedPage, out: _Found) -> None:
    name = _ga_label(ga, address)
    dpt = _usable_dpt(format_dpt(ga.get("dpt")), address, name, out)
    if dpt is None:
        return
    main = dpt_main(dpt)
    sub = int(dpt.split(".")[1]) if "." in dpt else None
    status = looks_like_status(name)
    if main == 1 and sub == 8:
        object_type, key = "shutter", "command"
    elif main == 1 and sub not in SENSOR_BOOLEANS:
        object_type, key = "switch", "state" if status else "command"
    elif main == 17 and sub == 1:
        object_type, key = "scene", "command"
    elif main == 20 and sub == 102:
        object_type, key = "thermostat", "mode_state" if status else "mode"
    else:
        object_type, key = "sensor", "state"
    out.candidates.append(
        Candidate(
            id=make_id(name, address.replace("/", "-"), "ga"),
            name=name,
            type=object_type,
            page=page,
            bindings=(PlannedBinding(key, address, dpt),),
            source=f"group address {address}",
        )
    )


def candidates(parsed: Mapping[str, Any]) -> tuple[list[Candidate], list[Skipped]]:
    """The objects an ETS export describes, and what it holds that cannot be imported.

    ``parsed`` is what ``xknxproject.XKNXProj(...).parse()`` returns (only
    ``group_addresses``, ``group_ranges``, ``locations`` and ``functions`` are read).
    """
    out = _Found()
    group_addresses: Mapping[str, Any] = parsed.get("group_addresses") or {}
    mains = main_group_pages(parsed)
    rooms = room_pages(parsed)
    covered: set[str] = set()
    released: dict[str, PlannedPage] = {}
    for function in (parsed.get("functions") or {}).values():
        bound, left = _function_candidate(function, group_addresses, rooms, mains, out)
        covered |= bound
        for address, page in left.items():
            released.setdefault(address, page)
    for address in sorted(group_addresses, key=address_key):
        if address in covered:
            continue
        page = released.get(address) or page_of_address(address, mains)
        _address_candidate(address, group_addresses[address] or {}, page, out)
    for address in sorted(set(released) - set(group_addresses), key=address_key):
        out.skipped.append(Skipped(address, address, "used by a function but not defined"))
    return out.candidates, out.skipped
