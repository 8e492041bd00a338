"""Dotted keys (``system.cloud.enabled``, ``objects.kitchen.restricted_to``): resolving
them against the model, typing a raw value for its field, ``set_key`` and ``get_key``."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from domogate.core.project import (
    ITEM_KEYS,
    Binding,
    Group,
    Loc,
    Page,
    Project,
    ProjectObject,
    ProjectUser,
    project_to_data,
)
from domogate.errors import ConfigKeyInvalid, InvalidInput
from domogate.storage.projectfile.document import (
    load_document,
    save_project_document,
    to_node,
    to_plain,
)
from domogate.storage.projectfile.limits import GuardedComposer, YamlLimit
from domogate.storage.projectfile.tree import (
    Moves,
    child_map,
    find_item,
    insert_key,
    item_list,
    item_names,
    root_map,
    settle_moves,
)

_ITEM_MODELS: dict[str, type[BaseModel]] = {
    "groups": Group,
    "users": ProjectUser,
    "pages": Page,
    "objects": ProjectObject,
}


_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NULL = frozenset({"null", "~", ""})


def _unwrap(annotation: Any) -> tuple[Any, bool]:
    """(base type, nullable) of a field annotation, without Annotated metadata."""
    nullable = False
    args = get_args(annotation)
    if get_origin(annotation) is not None and type(None) in args and len(args) == 2:
        nullable = True
        annotation = next(a for a in args if a is not type(None))
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    return annotation, nullable


def _model_of(annotation: Any) -> type[BaseModel] | None:
    base, _ = _unwrap(annotation)
    if isinstance(base, type) and issubclass(base, BaseModel):
        return base
    return None


def _keys_of(model: type[BaseModel], prefix: str) -> str:
    keys = []
    for name, field in model.model_fields.items():
        full = f"{prefix}{name}"
        if model is Project and name in ITEM_KEYS:
            keys.append(f"{full}.<{ITEM_KEYS[name]}>.KEY")
        elif get_origin(_unwrap(field.annotation)[0]) is dict:
            keys.append(f"{full}.<name>.KEY")
        elif _model_of(field.annotation) is not None:
            keys.append(f"{full}.KEY")
        else:
            keys.append(full)
    return ", ".join(keys)


@dataclass
class Target:
    node: CommentedMap
    key: str
    annotation: Any
    order: list[str]
    loc: Loc


def _resolve(root: CommentedMap, dotted_key: str, moves: Moves | None = None) -> Target:
    parts = dotted_key.split(".")
    if not dotted_key or any(not p or p != p.strip() for p in parts):
        raise ConfigKeyInvalid(
            f"malformed key {dotted_key!r}: use dotted names such as "
            "'system.cloud.connection_policy' or 'users.alice.admin'",
            key=dotted_key,
        )
    model: type[BaseModel] = Project
    node = root
    loc: Loc = ()
    prefix = ""
    i = 0
    while True:
        part = parts[i]
        fields = model.model_fields
        where = f"under '{prefix[:-1]}'" if prefix else "at the top level"
        if part not in fields:
            raise ConfigKeyInvalid(
                f"unknown key {prefix + part!r}; valid keys {where}: {_keys_of(model, prefix)}",
                key=dotted_key,
            )
        annotation = fields[part].annotation
        submodel = _model_of(annotation)
        base, _ = _unwrap(annotation)
        is_list_of_items = model is Project and part in ITEM_KEYS
        is_dict = get_origin(base) is dict
        last = i == len(parts) - 1
        full = prefix + part
        if last:
            if submodel is not None:
                raise ConfigKeyInvalid(
                    f"{full!r} is a section, not a value; set one of its keys: "
                    f"{_keys_of(submodel, full + '.')}",
                    key=dotted_key,
                )
            if is_list_of_items:
                id_key = ITEM_KEYS[part]
                raise ConfigKeyInvalid(
                    f"{full!r} is a list; address one item by its {id_key}, e.g. "
                    f"'{full}.<{id_key}>.KEY'"
                    + (
                        f", or add one with `domogate project {part[:-1]} add`"
                        if part in ("groups", "users")
                        else ""
                    ),
                    key=dotted_key,
                )
            if is_dict:
                raise ConfigKeyInvalid(
                    f"{full!r} is a set of bindings; set one with "
                    f"'{full}.<name>.address' (and '.dpt')",
                    key=dotted_key,
                )
            return Target(node, part, annotation, list(fields), (*loc, part))
        if submodel is not None:
            node = child_map(node, part, fields, full, moves)
            model, loc, prefix, i = submodel, (*loc, part), full + ".", i + 1
            continue
        if is_list_of_items:
            seq = item_list(root, part) if part in root or part == "groups" else CommentedSeq()
            # Names may contain dots ("j.doe"): try the longest name that exists.
            index: int | None = None
            end = len(parts)
            for end in range(len(parts), i + 1, -1):
                index = find_item(seq, part, ".".join(parts[i + 1 : end]))
                if index is not None:
                    break
            if index is None:
                name = parts[i + 1]
                names = item_names(seq, part)
                known = f"known: {', '.join(names)}" if names else f"there are no {part}"
                raise ConfigKeyInvalid(
                    f"unknown key {full + '.' + name!r}: no item of {part} has "
                    f"{ITEM_KEYS[part]} {name!r} ({known})",
                    key=dotted_key,
                )
            name = ".".join(parts[i + 1 : end])
            item_model = _ITEM_MODELS[part]
            item_prefix = f"{full}.{name}."
            if end == len(parts):
                raise ConfigKeyInvalid(
                    f"'{full}.{name}' is an item, not a value; set one of its keys: "
                    f"{_keys_of(item_model, item_prefix)}",
                    key=dotted_key,
                )
            item = seq[index]
            if not isinstance(item, CommentedMap):
                raise InvalidInput(f"cannot edit {full}[{index}]: it is not a mapping")
            node, model, loc = item, item_model, (*loc, part, index)
            prefix, i = item_prefix, end
            continue
        if is_dict:
            name = parts[i + 1]
            if i + 1 == len(parts) - 1:
                raise ConfigKeyInvalid(
                    f"'{full}.{name}' is a binding; set its keys: "
                    f"{_keys_of(Binding, f'{full}.{name}.')}",
                    key=dotted_key,
                )
            bindings = child_map(node, part, fields, full, moves)
            node = child_map(bindings, name, list(bindings), f"{full}.{name}", moves)
            model, loc = Binding, (*loc, part, name)
            prefix, i = f"{full}.{name}.", i + 2
            continue
        raise ConfigKeyInvalid(
            f"{full!r} is a value and has no key {parts[i + 1]!r}", key=dotted_key
        )


def _parse_yaml_scalar(raw: str) -> Any:
    try:
        yaml = YAML(typ="safe", pure=True)
        yaml.Composer = GuardedComposer
        return to_plain(yaml.load(raw))
    except (YAMLError, YamlLimit):
        return raw


def _coerce(raw: str, annotation: Any) -> Any:
    """The value to write for ``raw`` typed on the command line, given the field's type."""
    base, nullable = _unwrap(annotation)
    text = raw.strip()
    if nullable and text.lower() in _NULL:
        return None
    if base is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        return raw
    if base is int:
        try:
            return int(text)
        except ValueError:
            return raw
    if get_origin(base) is list:
        parsed = _parse_yaml_scalar(raw)
        if isinstance(parsed, list):
            return to_node(parsed)
        if isinstance(parsed, str):
            return to_node([p.strip() for p in parsed.split(",") if p.strip()])
        return parsed
    if base is str or (isinstance(base, type) and issubclass(base, Enum)):
        return raw
    return _parse_yaml_scalar(raw)


def _is_password_key(loc: Loc) -> bool:
    return loc == ("system", "password") or (
        len(loc) == 3 and loc[0] == "users" and loc[2] == "password"
    )


def looks_like_hash(value: str) -> bool:
    return value.startswith("$argon2id$")


def set_key(directory: Path, dotted_key: str, raw_value: str) -> Project:
    """Set one key (``system.cloud.connection_policy``, ``users.alice.admin``, ...).

    The value is read according to the key's type (``true``, ``7550``, ``null``, text).
    The project is validated before writing; when invalid the file is left unchanged.
    """
    document = load_document(directory)
    root = root_map(document)
    moves: Moves = []
    target = _resolve(root, dotted_key, moves)
    loc = tuple(target.loc)
    if len(loc) == 3 and isinstance(loc[0], str) and ITEM_KEYS.get(loc[0]) == loc[2]:
        raise ConfigKeyInvalid(
            f"{dotted_key}: `set` does not rename {loc[0]}, since other keys refer to them by "
            f"{loc[2]}; edit project.yaml by hand and update every reference."
        )
    value = _coerce(raw_value, target.annotation)
    if (
        _is_password_key(target.loc)
        and value is not None
        and not (isinstance(value, str) and looks_like_hash(value))
    ):
        command = (
            "`domogate project password DIR`"
            if target.loc[0] == "system"
            else "`domogate project user password DIR NAME`"
        )
        raise InvalidInput(
            f"{dotted_key} is stored as an Argon2id hash and cannot be set in clear; "
            f"use {command}, which asks for the password and hashes it"
        )
    if target.key in target.node:
        target.node[target.key] = value
    else:
        insert_key(target.node, target.key, value, target.order, moves)
    settle_moves(moves)
    return save_project_document(document)


def model_fields(section: str) -> list[str]:
    model = _model_of(Project.model_fields[section].annotation)
    return list(model.model_fields) if model is not None else []


def get_key(project: Project, dotted_key: str) -> Any:
    """The JSON value at ``dotted_key`` in ``project``, addressed as :func:`set_key` does."""
    root = to_node(project_to_data(project))
    target = _resolve(root, dotted_key)
    return to_plain(target.node.get(target.key))
