"""The project model: what an integrator describes and deploys (pure, no I/O).

A project is system options, server addresses, groups, initial users, pages and objects
with their bus bindings and per-group restrictions. Every model is frozen and forbids
unknown keys. :func:`validate_project_data` turns raw data (e.g. parsed YAML) into a
:class:`Project` or raises :class:`~domogate.errors.ProjectInvalid` whose problems name the
file, the dotted key path (``users[2].group``) and, when a ``lines`` function is given, the
line in the file.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import types
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Union, get_args, get_origin

from argon2 import extract_parameters
from argon2.exceptions import InvalidHashError
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from domogate.core.names import name_key
from domogate.core.objects import binding_problems
from domogate.errors import ProjectInvalid

FORMAT = 1
"""The only project file format this version reads and writes."""

Loc = tuple[str | int, ...]
LinesFunction = Callable[[Loc], int | None]

ITEM_KEYS: Mapping[str, str] = types.MappingProxyType(
    {"groups": "name", "users": "name", "pages": "id", "objects": "id"}
)
"""Lists of named items in a project, and the key that names their items."""

_DEFER_REFERENCES = "domogate_defer_references"

# --- field types -------------------------------------------------------------------

_SLUG_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_GROUP_RE = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_BINDING_KEY_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_DPT_RE = re.compile(r"[0-9]{1,3}(\.[0-9]{3})?")
_HOST_LABEL_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_HOST_PORT_RE = re.compile(r"(?P<host>.+):(?P<port>[0-9]{1,5})")
_ARGON2ID_PREFIX = "$argon2id$"


def _check_slug(value: str) -> str:
    if not _SLUG_RE.fullmatch(value):
        raise PydanticCustomError(
            "slug",
            "must be 1-64 characters among lowercase letters a-z, digits, '-' and '_', "
            "starting with a letter or digit (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_group_name(value: str) -> str:
    if not _GROUP_RE.fullmatch(value):
        raise PydanticCustomError(
            "group_name",
            "must be 1-64 characters among letters, digits, '_', '.' and '-' (got {value})",
            {"value": repr(value)},
        )
    return value


def _has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cs") for c in value)


def _label_checker(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not value.strip():
            raise PydanticCustomError("label_empty", "must not be empty")
        if len(value) > max_length:
            raise PydanticCustomError(
                "label_too_long",
                "must be at most {max} characters (got {length})",
                {"max": max_length, "length": len(value)},
            )
        if _has_control_characters(value):
            raise PydanticCustomError(
                "label_control", "must not contain control characters (tabs, line breaks, ...)"
            )
        return value

    return check


def _text_checker(max_length: int) -> Callable[[str], str]:
    def check(value: str) -> str:
        if len(value) > max_length:
            raise PydanticCustomError(
                "text_too_long",
                "must be at most {max} characters (got {length})",
                {"max": max_length, "length": len(value)},
            )
        if _has_control_characters(value.replace("\n", "")):
            raise PydanticCustomError(
                "text_control", "must not contain control characters other than line breaks"
            )
        return value

    return check


def _check_password_hash(value: str) -> str:
    # Never echo the value: it may be a password typed in clear by mistake.
    if not value.startswith(_ARGON2ID_PREFIX):
        raise PydanticCustomError(
            "password_not_hashed",
            "must be an Argon2id hash ('$argon2id$...'), never a password in clear; "
            "set it with `domogate project password DIR` (service password) or "
            "`domogate project user password DIR NAME` (user password)",
        )
    try:
        parameters = extract_parameters(value)
        if parameters.salt_len < 8 or parameters.hash_len < 16:
            raise InvalidHashError
    except InvalidHashError:
        raise PydanticCustomError(
            "password_hash_malformed",
            "is not a well-formed Argon2id hash; set it again with `domogate project password "
            "DIR` or `domogate project user password DIR NAME`",
        ) from None
    return value


def _is_host_name(value: str) -> bool:
    name = value[:-1] if value.endswith(".") else value
    if not name or len(name) > 253:
        return False
    return all(_HOST_LABEL_RE.fullmatch(label) for label in name.split("."))


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _check_host(value: str) -> str:
    if not (_is_ip(value) or _is_host_name(value)):
        raise PydanticCustomError(
            "host",
            "must be an IP address or a host name such as 'panel.local' (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_external_address(value: str) -> str:
    if _is_ip(value) or _is_host_name(value):
        return value
    match = _HOST_PORT_RE.fullmatch(value)
    if match:
        host, port = match["host"], int(match["port"])
        if host.startswith("[") and host.endswith("]"):
            host_ok = _is_ip(host[1:-1]) and ":" in host
        else:
            host_ok = (_is_ip(host) and ":" not in host) or _is_host_name(host)
        if host_ok and 1 <= port <= 65535:
            return value
    raise PydanticCustomError(
        "external_address",
        "must be a host name or IP address, optionally with ':PORT' "
        "(e.g. 'home.example.org' or 'home.example.org:8443') (got {value})",
        {"value": repr(value)},
    )


def _number_to_str(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value


def _dpt_number_to_str(value: Any) -> Any:
    # YAML reads an unquoted 9.001 as a number; DPT sub-numbers always have three digits.
    if isinstance(value, float):
        return f"{value:.3f}"
    return _number_to_str(value)


def _check_knx_address(value: str) -> str:
    parts = value.split("/")
    ok = all(p.isascii() and p.isdigit() for p in parts)
    if ok:
        numbers = [int(p) for p in parts]
        if len(numbers) == 3:
            ok = numbers[0] <= 31 and numbers[1] <= 7 and numbers[2] <= 255
        elif len(numbers) == 2:
            ok = numbers[0] <= 31 and numbers[1] <= 2047
        elif len(numbers) == 1:
            ok = numbers[0] <= 65535
        else:
            ok = False
    if not ok:
        raise PydanticCustomError(
            "knx_address",
            "must be a KNX group address: 'main/middle/sub' (0-31/0-7/0-255), "
            "'main/sub' (0-31/0-2047) or a free number 0-65535 (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_dpt(value: str) -> str:
    if not _DPT_RE.fullmatch(value):
        raise PydanticCustomError(
            "dpt",
            "must be a KNX datapoint type such as '1.001', '5.001', '9.001' or '1' "
            "(quote it in YAML) (got {value})",
            {"value": repr(value)},
        )
    return value


def _check_binding_key(value: str) -> str:
    if not _BINDING_KEY_RE.fullmatch(value):
        raise PydanticCustomError(
            "binding_key",
            "binding names are 1-32 characters among lowercase letters, digits and '_', "
            "starting with a letter, such as 'command', 'state' or 'position' (got {value})",
            {"value": repr(value)},
        )
    return value


Slug = Annotated[str, AfterValidator(_check_slug)]
GroupName = Annotated[str, AfterValidator(_check_group_name)]
UserName = Annotated[str, AfterValidator(_label_checker(64))]
Label = Annotated[str, AfterValidator(_label_checker(100))]
Description = Annotated[str, AfterValidator(_text_checker(500))]
Icon = Annotated[str, AfterValidator(_label_checker(64))]
PasswordHash = Annotated[str, AfterValidator(_check_password_hash)]
Host = Annotated[str, AfterValidator(_check_host)]
ExternalAddress = Annotated[str, AfterValidator(_check_external_address)]
KnxAddress = Annotated[str, BeforeValidator(_number_to_str), AfterValidator(_check_knx_address)]
Dpt = Annotated[str, BeforeValidator(_dpt_number_to_str), AfterValidator(_check_dpt)]
BindingKey = Annotated[str, AfterValidator(_check_binding_key)]


# --- models --------------------------------------------------------------------------


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _empty_sections_are_defaults(cls, data: Any) -> Any:
        """An empty section in YAML (``users:`` with nothing after it) means its default."""
        if isinstance(data, dict):
            sections = _section_keys(cls)
            if any(data.get(k, ...) is None for k in sections):
                return {k: v for k, v in data.items() if not (k in sections and v is None)}
        return data


@functools.cache
def _section_keys(model: type[BaseModel]) -> frozenset[str]:
    """Fields holding a mapping, list or model that have a default and do not take null."""
    keys = set()
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if field.is_required() or type(None) in get_args(annotation):
            continue
        if get_origin(annotation) in (list, dict) or (
            isinstance(annotation, type) and issubclass(annotation, BaseModel)
        ):
            keys.add(name)
    return frozenset(keys)


class ConnectionPolicy(StrEnum):
    LOCAL = "local"
    CLOUD = "cloud"
    LOCAL_AND_CLOUD = "local_and_cloud"


class ObjectType(StrEnum):
    SWITCH = "switch"
    DIMMER = "dimmer"
    SHUTTER = "shutter"
    THERMOSTAT = "thermostat"
    SCENE = "scene"
    SENSOR = "sensor"


class CloudOptions(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = Field(default=False, strict=True)
    password: str | None = None
    connection_policy: ConnectionPolicy = ConnectionPolicy.LOCAL


class SystemOptions(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    password: PasswordHash | None = None
    vnc_password: str | None = None
    use_otp_authentication: bool = Field(default=True, strict=True)
    automatic_authentication: bool = Field(default=True, strict=True)
    automatic_connection: bool = Field(default=True, strict=True)
    automatic_server_update: bool = Field(default=False, strict=True)
    cloud: CloudOptions = Field(default_factory=CloudOptions)


class ServerAddresses(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: Host = "127.0.0.1"
    port: int = Field(default=7550, ge=1, le=65535, strict=True)
    external_address: ExternalAddress | None = None


class Group(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: GroupName
    description: Description = ""


class ProjectUser(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: UserName
    group: str
    admin: bool = Field(default=False, strict=True)
    password: PasswordHash | None = None


class Binding(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    address: KnxAddress
    dpt: Dpt | None = None


class Restrictions(_Model):
    """Which groups see and operate an object; ``None`` means every group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    visible_to: list[str] | None = None
    operable_by: list[str] | None = None

    @field_validator("operable_by")
    @classmethod
    def _operable_within_visible(cls, value: list[str] | None, info: ValidationInfo) -> Any:
        visible = info.data.get("visible_to")
        if value is not None and visible is not None:
            hidden = [g for g in value if g not in visible]
            if hidden:
                raise PydanticCustomError(
                    "operable_not_visible",
                    "must be a subset of visible_to: {groups} may not see the object, "
                    "so they cannot operate it",
                    {"groups": ", ".join(repr(g) for g in hidden)},
                )
        return value


class ProjectObject(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    name: Label
    type: ObjectType
    page: str
    bindings: dict[BindingKey, Binding] = Field(default_factory=dict)
    restrictions: Restrictions = Field(default_factory=Restrictions)


class Page(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Slug
    title: Label
    icon: Icon | None = None


def _default_groups() -> list[Group]:
    return [Group(name="users")]


class Project(_Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, strict=True)
    name: Label
    server: ServerAddresses = Field(default_factory=ServerAddresses)
    system: SystemOptions = Field(default_factory=SystemOptions)
    groups: list[Group] = Field(default_factory=_default_groups, min_length=1)
    users: list[ProjectUser] = Field(default_factory=list)
    pages: list[Page] = Field(default_factory=list)
    objects: list[ProjectObject] = Field(default_factory=list)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != FORMAT:
            raise PydanticCustomError(
                "format",
                "unsupported project format {value}; this version of domogate reads format {known}",
                {"value": value, "known": FORMAT},
            )
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Project:
        if info.context and info.context.get(_DEFER_REFERENCES):
            return self  # validate_project_data reports them one by one, with their paths
        problems = reference_problems(self)
        if problems:
            loc, message = problems[0]
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise ValueError(f"{format_path(loc)}: {message}{more}")
        return self

    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def default_group(self) -> str:
        """The group new users get when none is given: the first one."""
        return self.groups[0].name

    def user(self, name: str) -> ProjectUser | None:
        """The user with this name (one name whatever its case, spacing or compatibility
        form: :func:`domogate.core.names.name_key`), or None."""
        wanted = name_key(name)
        return next((u for u in self.users if name_key(u.name) == wanted), None)

    def page(self, page_id: str) -> Page | None:
        return next((p for p in self.pages if p.id == page_id), None)

    def object(self, object_id: str) -> ProjectObject | None:
        return next((o for o in self.objects if o.id == object_id), None)


# --- cross references ------------------------------------------------------------------


def _known(kind: str, names: Sequence[str]) -> str:
    if not names:
        return f"no {kind} are defined"
    return f"known {kind}: " + ", ".join(names)


def reference_problems(project: Project) -> list[tuple[Loc, str]]:
    """Problems between parts of a valid-looking project: duplicates and dangling names."""
    problems: list[tuple[Loc, str]] = []
    groups = project.group_names()
    group_set = set(groups)

    seen: dict[str, int] = {}
    for i, group in enumerate(project.groups):
        if group.name in seen:
            problems.append(
                (
                    ("groups", i, "name"),
                    f"duplicate group name {group.name!r} "
                    f"(already used by groups[{seen[group.name]}])",
                )
            )
        else:
            seen[group.name] = i

    seen = {}
    for i, user in enumerate(project.users):
        key = name_key(user.name)
        if key in seen:
            problems.append(
                (
                    ("users", i, "name"),
                    f"duplicate user name {user.name!r} (already used by users[{seen[key]}]; "
                    "user names ignore case, spaces and look-alike characters)",
                )
            )
        else:
            seen[key] = i
        if user.group not in group_set:
            problems.append(
                (("users", i, "group"), f"unknown group {user.group!r}; {_known('groups', groups)}")
            )

    seen = {}
    for i, page in enumerate(project.pages):
        if page.id in seen:
            problems.append(
                (
                    ("pages", i, "id"),
                    f"duplicate page id {page.id!r} (already used by pages[{seen[page.id]}])",
                )
            )
        else:
            seen[page.id] = i
    page_ids = [p.id for p in project.pages]
    page_set = set(page_ids)

    seen = {}
    for i, obj in enumerate(project.objects):
        if obj.id in seen:
            problems.append(
                (
                    ("objects", i, "id"),
                    f"duplicate object id {obj.id!r} (already used by objects[{seen[obj.id]}])",
                )
            )
        else:
            seen[obj.id] = i
        if obj.page not in page_set:
            problems.append(
                (("objects", i, "page"), f"unknown page {obj.page!r}; {_known('pages', page_ids)}")
            )
        for field in ("visible_to", "operable_by"):
            listed: list[str] | None = getattr(obj.restrictions, field)
            for k, name in enumerate(listed or []):
                if name not in group_set:
                    problems.append(
                        (
                            ("objects", i, "restrictions", field, k),
                            f"unknown group {name!r}; {_known('groups', groups)}",
                        )
                    )
    problems.extend(binding_problems(project))
    return problems


# --- problems --------------------------------------------------------------------------


def format_path(loc: Loc) -> str:
    """``('users', 2, 'group')`` → ``users[2].group``; the whole document is ``(top level)``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"


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
    data: object, *, file: str = "project.yaml", lines: LinesFunction | None = None
) -> Project:
    """Validate raw project data; raise :class:`ProjectInvalid` listing every problem.

    Each problem is ``{"file", "path", "line", "message"}``; ``lines(loc)`` maps a key path
    (pydantic loc) to a 1-based line number in ``file``.
    """
    try:
        project = Project.model_validate(data, context={_DEFER_REFERENCES: True})
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
