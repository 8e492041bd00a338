"""Operate the building from the command line: ``state``, ``set``, ``watch``.

They act as this CLI's enrolled device, like ``whoami`` (see ``client_cmd``). Objects are
named by id or by name (case-insensitive); values are typed the way a person says them
(``on``, ``off``, ``40``, ``21.5``, ``comfort``, ``up``) and checked by the server against
the object's datapoint types.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from domogate.cli.app import add_command
from domogate.cli.output import print_json
from domogate.cli.params import ConfigOption, JsonOption, PathOption
from domogate.cli.plumbing import (
    _doc,
    _echo,
    _examples,
    _load_config,
    _note,
    _run_signed_in,
    _stdout,
    choose_plan,
    dict_list,
    safe_text,
    server_data,
)
from domogate.client.follow import LiveFollower
from domogate.client.session import SignedIn
from domogate.errors import DomogateError, InvalidInput, NotFound

# --- pure helpers ---------------------------------------------------------------------------


def find_object(objects: Sequence[Mapping[str, Any]], query: str) -> Mapping[str, Any]:
    """The object whose id, or else whose name, is ``query`` (case-insensitive)."""
    wanted = query.strip().casefold()
    for key in ("id", "name"):
        found = [o for o in objects if str(o.get(key, "")).casefold() == wanted]
        if len(found) == 1:
            return found[0]
        if len(found) > 1:
            ids = ", ".join(str(o.get("id")) for o in found)
            raise InvalidInput(f"{query!r} names several objects ({ids}); use the id.")
    known = ", ".join(str(o.get("id")) for o in objects) or "none"
    raise NotFound(f"No object {query!r} that you may see; known objects: {known}.")


def format_value(value: object, dpt: str | None) -> str:
    """A state value as a person reads it: ``on``, ``40 %``, ``21.5 °C``, ``comfort``."""
    if value is None:
        return "?"
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, dict):
        return ", ".join(f"{k}={format_value(v, None)}" for k, v in value.items())
    from domogate.core.values import unit_of  # xknx: imported only when needed

    unit = unit_of(dpt) if dpt else None
    text = f"{value:g}" if isinstance(value, float) else str(value)
    return f"{text} {unit}" if unit else text


_ACTION_WORDS = {"move": {True: "down", False: "up"}, "stop": {True: "stop", False: "stop"}}


def format_attribute(obj: Mapping[str, Any], name: str, value: object) -> str:
    """One attribute's value as a person reads it (``down`` for a shutter's move)."""
    words = _ACTION_WORDS.get(name)
    if words is not None and isinstance(value, bool):
        return words[value]
    attributes = obj.get("attributes")
    info = attributes.get(name) if isinstance(attributes, dict) else None
    return format_value(value, info.get("dpt") if isinstance(info, dict) else None)


def format_state(obj: Mapping[str, Any], state: Mapping[str, Any] | None) -> str:
    """``off, brightness 40 %``: the on/off attribute and single attributes go unnamed."""
    if not state:
        return "—"
    parts = []
    for name, value in state.items():
        shown = format_attribute(obj, name, value)
        parts.append(shown if len(state) == 1 or name == "on" else f"{name} {shown}")
    return ", ".join(parts)


def parse_value(obj: Mapping[str, Any], text: str, attribute: str | None) -> tuple[str, Any]:
    """What the person typed, as an attribute and a JSON value (JSON mappings as is)."""
    from domogate.core.objects import KINDS, parse_typed

    obj_type = str(obj.get("type"))
    if obj_type not in KINDS:
        raise InvalidInput(f"Unknown object type {obj_type!r} from the server.")
    stripped = text.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError as exc:
            raise InvalidInput(f"{text!r} is not valid JSON.") from exc
        return attribute or KINDS[obj_type].main, value
    return parse_typed(obj_type, stripped, attribute)


def _stamp() -> str:
    return datetime.now(UTC).astimezone().strftime("%H:%M:%S")


# --- commands -------------------------------------------------------------------------------


async def _objects_and_states(session: SignedIn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    project = await session.api.project()
    states = await session.api.states()
    objects = dict_list(project.get("objects"), "objects")
    raw = states.get("states")
    return objects, raw if isinstance(raw, dict) else {}


STATE_HELP = _doc(
    "Show the current state of the objects you may see (or of one object).",
    "OBJECT is an object id or name.",
)
STATE_EPILOG = _examples("domogate state", "domogate state living-light", "domogate state --json")


def state(
    obj: Annotated[
        str | None, typer.Argument(metavar="[OBJECT]", help="Object id or name.")
    ] = None,
    config: ConfigOption = None,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show object states."""
    objects, states = _run_signed_in(config, _objects_and_states, path)
    if obj is not None:
        objects = [dict(find_object(objects, obj))]
    rows: list[dict[str, Any]] = [
        {
            "id": o.get("id"),
            "name": o.get("name"),
            "type": o.get("type"),
            "page": o.get("page"),
            "operable": bool(o.get("operable")),
            "state": states.get(str(o.get("id"))),
        }
        for o in objects
    ]
    if as_json:
        print_json(rows[0] if obj is not None else {"objects": rows})
        return
    table = Table(title="Objects", title_justify="left")
    for column in ("Object", "Id", "Type", "Page", "State"):
        table.add_column(column, overflow="fold")
    for o, row in zip(objects, rows, strict=True):
        kind = safe_text(row["type"]) + ("" if row["operable"] else " (read only)")
        table.add_row(
            Text(safe_text(row["name"])),
            Text(safe_text(row["id"])),
            Text(kind),
            Text(safe_text(row["page"])),
            Text(format_state(o, row["state"])),
        )
    _stdout().print(table)


SET_HELP = _doc(
    "Operate an object: switch, dim, move, set a temperature or mode, call a scene.",
    "VALUE is typed as you would say it: on/off, a number (percent for dimmers and shutters, "
    "°C for thermostats, the scene number for scenes), up/down/stop for shutters, a mode "
    "(auto, comfort, standby, economy, building_protection) for thermostats. "
    "--attribute picks another attribute (e.g. slats, mode). "
    "The server checks that your group may operate the object and that the value fits.",
)
SET_EPILOG = _examples(
    "domogate set living-light on",
    "domogate set kitchen-dimmer 40",
    "domogate set living-shutter down",
    "domogate set bedroom-thermostat 21.5",
    "domogate set bedroom-thermostat comfort",
    "domogate set living-shutter 30 --attribute slats",
)


def set_value(
    obj: Annotated[str, typer.Argument(metavar="OBJECT", help="Object id or name.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="on, off, 40, 21.5, up, …")],
    attribute: Annotated[
        str | None, typer.Option("--attribute", "-a", help="Attribute to set.")
    ] = None,
    config: ConfigOption = None,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Operate an object."""

    async def action(session: SignedIn) -> tuple[Mapping[str, Any], dict[str, Any]]:
        project = await session.api.project()
        found = find_object(dict_list(project.get("objects"), "objects"), obj)
        name, parsed = parse_value(found, value, attribute)
        result = await session.api.command(str(found.get("id")), name, parsed)
        return found, result

    found, result = _run_signed_in(config, action, path)
    if as_json:
        print_json(result)
        return
    state_value = result.get("state")
    attribute = str(result.get("attribute"))
    _echo(
        f"{safe_text(found.get('name'))}: {safe_text(attribute)} = "
        f"{format_attribute(found, attribute, result.get('value'))}"
    )
    if isinstance(state_value, dict):
        _echo(f"State: {format_state(found, state_value)}")


WATCH_HELP = _doc(
    "Stream state changes as they happen (Ctrl-C to stop).",
    "Prints one line per change: time, object, state. With --json, one JSON object per line "
    '({"type": "state", "object": …, "state": …}). Admins also see the bus connection '
    "going up and down. The session is renewed on the same connection before it expires.",
)
WATCH_EPILOG = _examples(
    "domogate watch",
    "domogate watch living-light kitchen-dimmer",
    "domogate watch --json --count 10",
)


def watch(
    objects_filter: Annotated[
        list[str] | None,
        typer.Argument(metavar="[OBJECT]...", help="Only these objects (ids or names)."),
    ] = None,
    count: Annotated[
        int | None, typer.Option("--count", min=1, help="Stop after this many changes.")
    ] = None,
    config: ConfigOption = None,
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Stream state changes."""

    loaded = _load_config(config)
    the_plan = choose_plan(loaded, path)

    def switched(new: str, old: str | None, why: str) -> None:
        if as_json:
            _note(json.dumps({"type": "path", "path": new, "previous": old, "why": why}))
        else:
            _note(f"{_stamp()}  now on the {new} path ({why}).")

    async def run() -> None:
        async with LiveFollower(loaded, the_plan, on_switch=switched) as follower:
            with server_data(follower.session.api.base_url):
                await _follow(follower, objects_filter, count, as_json)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(run())


async def _follow(
    follower: LiveFollower, objects_filter: list[str] | None, count: int | None, as_json: bool
) -> None:
    project = await follower.session.api.project()
    objects = dict_list(project.get("objects"), "objects")
    by_id = {str(o.get("id")): o for o in objects}
    wanted = (
        {str(find_object(objects, q).get("id")) for q in objects_filter} if objects_filter else None
    )
    seen = 0
    if not as_json:
        _note(f"Watching on the {follower.session.via} path; Ctrl-C to stop.")
    if count is not None and seen >= count:
        return
    async for message in follower:
        kind = message.get("type")
        if kind == "state":
            object_id = str(message.get("object"))
            if wanted is not None and object_id not in wanted:
                continue
            seen += 1
            _print_change(by_id.get(object_id, {"id": object_id}), message, as_json)
            if count is not None and seen >= count:
                return
        elif kind == "bus":
            _print_bus(message, as_json)
        elif kind == "project":
            project = await follower.session.api.project()
            objects = dict_list(project.get("objects"), "objects")
            by_id = {str(o.get("id")): o for o in objects}
            if not as_json:
                _note(f"The server deployed project version {message.get('version')}.")
        elif kind == "error" and isinstance(message.get("error"), dict):
            error = message["error"]
            raise DomogateError(str(error.get("message") or "The server closed."))


def _print_change(obj: Mapping[str, Any], message: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(dict(message), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    state_value = message.get("state")
    shown = format_state(obj, state_value if isinstance(state_value, dict) else None)
    _echo(f"{_stamp()}  {safe_text(obj.get('name') or obj.get('id'))}: {shown}")
    sys.stdout.flush()


def _print_bus(message: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        sys.stdout.write(json.dumps(dict(message), ensure_ascii=False) + "\n")
        sys.stdout.flush()
        return
    up = "connected" if message.get("connected") else "DISCONNECTED"
    detail = f" ({safe_text(message.get('detail'))})" if message.get("detail") else ""
    _echo(f"{_stamp()}  bus {safe_text(message.get('adapter'))}: {up}{detail}")
    sys.stdout.flush()


def register(app: typer.Typer) -> None:
    add_command(app, "state", state, help=STATE_HELP, epilog=STATE_EPILOG)
    add_command(app, "set", set_value, help=SET_HELP, epilog=SET_EPILOG)
    add_command(app, "watch", watch, help=WATCH_HELP, epilog=WATCH_EPILOG)


__all__ = [
    "find_object",
    "format_attribute",
    "format_state",
    "format_value",
    "parse_value",
    "register",
]
