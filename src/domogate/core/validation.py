"""Validating raw project data: every problem with its file, key path and line."""

from __future__ import annotations

import types
from collections.abc import Callable, Mapping
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

from domogate.core.fields import HASH_FORMAT_CHECK
from domogate.core.keypaths import LinesFunction, Loc, format_path
from domogate.core.model import DEFER_REFERENCES, Project
from domogate.core.references import reference_problems
from domogate.errors import ProjectInvalid


def _strip_optional(tp: Any) -> Any:
    if get_origin(tp) in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


def _model_class(tp: Any) -> type[BaseModel] | None:
    tp = _strip_optional(tp)
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    return None


def model_at(loc: Loc) -> type[BaseModel] | None:
    """The model class that validates the value at ``loc`` in a project, if any."""
    tp: Any = Project
    for part in loc:
        model = _model_class(tp)
        if model is not None:
            if not isinstance(part, str) or part not in model.model_fields:
                return None
            tp = model.model_fields[part].annotation
            continue
        tp = _strip_optional(tp)
        origin = get_origin(tp)
        if origin is list and isinstance(part, int):
            tp = get_args(tp)[0]
        elif origin is dict and isinstance(part, str):
            tp = get_args(tp)[1]
        else:
            return None
    return _model_class(tp)


def _is_secret(loc: Loc) -> bool:
    return any(isinstance(p, str) and "password" in p for p in loc)


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return repr(shown)
    if isinstance(value, Mapping):
        return "a mapping (key: value)"
    if isinstance(value, list | tuple):
        return "a list"
    return f"a value of type {type(value).__name__}"


def _allowed_keys(loc: Loc) -> str:
    model = model_at(loc)
    if model is None:
        return ""
    return ", ".join(model.model_fields)


def _message(error: Mapping[str, Any]) -> str:
    kind: str = error["type"]
    loc: Loc = tuple(error["loc"])
    msg: str = error["msg"]
    value = error.get("input")
    got = "" if _is_secret(loc) else f", got {_describe(value)}"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(loc[:-1])
        return f"unknown key {loc[-1]!r}" + (f"; allowed keys here: {allowed}" if allowed else "")
    if kind == "missing":
        return f"required key {loc[-1]!r} is missing" if loc else "required value is missing"
    if kind in ("model_type", "model_attributes_type", "dict_type"):
        allowed = _allowed_keys(loc)
        keys = f" with keys such as {allowed}" if allowed else ""
        return f"expected a mapping (key: value){keys}, got {_describe(value)}"
    if kind == "list_type":
        return f"expected a list, got {_describe(value)}"
    if kind in ("string_type", "str_type"):
        return f"expected text (quote it in YAML if needed){got}"
    if kind in ("bool_type", "bool_parsing"):
        return f"expected true or false{got}"
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return f"expected a whole number{got}"
    if kind == "too_short" and loc == ("groups",):
        return "at least one group is required"
    if kind == "value_error":
        return msg.removeprefix("Value error, ")
    if kind == "enum":
        expected = error.get("ctx", {}).get("expected", "")
        return f"must be one of {expected}{got}"
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        if loc and loc[-1] == "port":
            return f"must be a port number between 1 and 65535{got}"
        return f"{msg}{got}"
    return msg


def _line(lines: LinesFunction | None, loc: Loc) -> int | None:
    if lines is None:
        return None
    try:
        return lines(loc)
    except Exception:  # a broken line lookup must not hide the real problem
        return None


def _problem(file: str, loc: Loc, message: str, lines: LinesFunction | None) -> dict[str, Any]:
    return {"file": file, "path": format_path(loc), "line": _line(lines, loc), "message": message}


def _by_line(problem: Mapping[str, Any]) -> tuple[bool, int]:
    line = problem.get("line")
    return (line is None, line if isinstance(line, int) else 0)


def validate_project_data(
    data: object,
    *,
    file: str = "project.yaml",
    lines: LinesFunction | None = None,
    hash_format: Callable[[str], bool] | None = None,
) -> Project:
    """Validate raw project data; raise :class:`ProjectInvalid` listing every problem.

    Each problem is ``{"file", "path", "line", "message"}``; ``lines(loc)`` maps a key path
    (pydantic loc) to a 1-based line number in ``file``; ``hash_format(hash)`` checks the
    format of password hashes beyond their ``$argon2id$`` prefix (see
    :data:`~domogate.core.fields.HASH_FORMAT_CHECK`).
    """
    try:
        project = Project.model_validate(
            data, context={DEFER_REFERENCES: True, HASH_FORMAT_CHECK: hash_format}
        )
    except ValidationError as exc:
        problems = [
            _problem(file, tuple(err["loc"]), _message(err), lines)
            for err in exc.errors(include_url=False)
        ]
        problems.sort(key=_by_line)
        raise ProjectInvalid(f"{len(problems)} problem(s) in {file}", problems=problems) from None
    refs = reference_problems(project)
    if refs:
        problems = [_problem(file, loc, message, lines) for loc, message in refs]
        problems.sort(key=_by_line)
        raise ProjectInvalid(f"{len(problems)} problem(s) in {file}", problems=problems)
    return project


def project_to_data(project: Project) -> dict[str, Any]:
    """JSON-able data of a project; ``validate_project_data`` reads it back unchanged."""
    return project.model_dump(mode="json", exclude_defaults=False)
