"""The project folder on disk: ``DIR/project.yaml`` read and written with ruamel.yaml.

Round-trip editing keeps the comments, key order and quoting a person wrote. Every change
is validated before anything is written, and writes are atomic (temporary file in the
same folder, fsync, ``os.replace``): a failed or refused change leaves the file unchanged,
byte for byte. Validation problems carry the file, the key path and the line.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer
from ruamel.yaml.error import CommentMark, MarkedYAMLError, YAMLError
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.scalarstring import DoubleQuotedScalarString
from ruamel.yaml.scanner import RoundTripScanner
from ruamel.yaml.tokens import CommentToken
from ruamel.yaml.util import load_yaml_guess_indent

from domogate.core.ets import Candidate, ImportPlan, PlannedBinding
from domogate.core.names import name_key
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
    validate_project_data,
)
from domogate.errors import ConfigKeyInvalid, Conflict, InvalidInput, ProjectInvalid

PROJECT_FILE = "project.yaml"

HEADER = (
    "domogate project file (format 1); reference: docs/project.md\n"
    "Edit it by hand or with `domogate project set DIR KEY VALUE`;\n"
    "check it with `domogate project validate DIR`."
)

_SECTION_COMMENTS = {
    "server": "How clients reach the server.",
    "system": "System options (passwords are Argon2id hashes: `domogate project password DIR`).",
    "groups": "Groups: objects can be restricted per group.",
    "users": "Initial users (`domogate project user add DIR NAME`).",
    "pages": "Pages shown by the clients.",
    "objects": "Objects on the pages, with their KNX bindings and per-group restrictions.",
}

_ITEM_MODELS: dict[str, type[BaseModel]] = {
    "groups": Group,
    "users": ProjectUser,
    "pages": Page,
    "objects": ProjectObject,
}

_DUPLICATE_VALUES_RE = re.compile(r' with value ".*" \(original value: ".*"\)', re.DOTALL)

_DEFAULT_INDENT = (2, 4, 2)  # mapping, sequence, offset: "key:\n  - item: 1"

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})
_NULL = frozenset({"null", "~", ""})


# --- limits on hostile files (docs/security.md, "Input limits") -------------------------

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Size of ``project.yaml`` (a project of thousands of objects is well under 1 MiB; the
server accepts deploys of up to 8 MiB)."""
MAX_DEPTH = 64
"""Nesting depth of collections (a real project needs about 6)."""
MAX_ALIASES = 1000
"""Aliases (``*name``) in one document."""
MAX_EXPANDED_NODES = 100_000
"""Nodes that aliases may add to the document once expanded (a "billion laughs" file adds
a billion from a few hundred bytes)."""


class _YamlLimit(Exception):
    """A limit of the guarded composer, with the 1-based line where it was exceeded."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _line_of(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


def _too_deep(line: int | None) -> _YamlLimit:
    return _YamlLimit(
        f"nested more than {MAX_DEPTH} levels deep; a project needs far fewer: "
        "flatten this part of the file",
        line,
    )


class _GuardedScanner(RoundTripScanner):
    """Stops at the 65th open ``[``/``{`` at once: ruamel's scanner looks up to 1024
    characters ahead for a possible key, over every open level (about a second of work
    for ``[[[[...``) before the composer sees the first one."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise _too_deep(int(self.reader.line) + 1)
        super().fetch_flow_collection_start(TokenClass, to_push)


class _GuardedComposer(Composer):
    """ruamel's composer with budgets checked *before* objects are built: the nesting depth
    (no RecursionError, however deep the file), the number of aliases, recursive aliases,
    and the size that aliases expand to (each node counts as often as it is referred to,
    as :func:`to_plain` and the validation see it)."""

    def __init__(self, loader: Any = None) -> None:
        super().__init__(loader)
        self._nodes = 0  # expanded nodes composed so far in the document
        self._added = 0  # of which added by aliases
        self._aliases = 0
        self._done: dict[Any, tuple[int, int]] = {}  # anchor -> (expanded size, height)
        self._heights: list[int] = []  # height of the deepest child of each open node

    def compose_document(self) -> Any:
        self._nodes = self._added = self._aliases = 0
        self._done = {}
        self._heights = []
        return super().compose_document()

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.parser.peek_event()
        if isinstance(event, AliasEvent):
            return self._alias(event, parent, index)
        if self.depth + 1 > MAX_DEPTH:
            raise _too_deep(_line_of(event))
        anchor = event.anchor
        if anchor is not None:
            self._done.pop(anchor, None)  # redefined: an alias to it inside is recursive
        start = self._nodes
        self._heights.append(0)
        node = super().compose_node(parent, index)
        height = self._heights.pop() + 1
        self._nodes += 1
        self._child(height)
        if anchor is not None:
            self._done[anchor] = (self._nodes - start, height)
        return node

    def _child(self, height: int) -> None:
        if self._heights:
            self._heights[-1] = max(self._heights[-1], height)

    def _alias(self, event: Any, parent: Any, index: Any) -> Any:
        line = _line_of(event)
        self._aliases += 1
        if self._aliases > MAX_ALIASES:
            raise _YamlLimit(
                f"more than {MAX_ALIASES} aliases (*name); write the values out instead",
                line,
            )
        anchor = event.anchor
        if anchor in self.anchors and anchor not in self._done:
            raise _YamlLimit(
                f"alias *{anchor} refers to a node that contains it (a recursive structure)",
                line,
            )
        size, height = self._done.get(anchor, (1, 1))
        self._added += size
        self._nodes += size
        if self._added > MAX_EXPANDED_NODES:
            raise _YamlLimit(
                f"aliases (*name) expand the file beyond {MAX_EXPANDED_NODES} values "
                "(an alias bomb?); write the values out instead of repeating aliases",
                line,
            )
        if self.depth + height > MAX_DEPTH:
            raise _YamlLimit(
                f"alias *{anchor} nests the document more than {MAX_DEPTH} levels deep",
                line,
            )
        self._child(height)
        return super().compose_node(parent, index)


class _Representer(RoundTripRepresenter):
    """Round-trip representer that writes ``null`` explicitly (not an empty value)."""


_Representer.add_representer(
    type(None),
    lambda representer, _data: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
)


def _yaml(indent: tuple[int, int, int] = _DEFAULT_INDENT) -> YAML:
    yaml = YAML(typ="rt")
    yaml.Scanner = _GuardedScanner
    yaml.Composer = _GuardedComposer
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


# --- the document --------------------------------------------------------------------


@dataclass
class ProjectDocument:
    """A loaded ``project.yaml``: the round-trip tree (comments included) and its layout."""

    path: Path
    data: Any
    indent: tuple[int, int, int] = _DEFAULT_INDENT

    @property
    def file(self) -> str:
        return str(self.path)

    def lines(self) -> Callable[[Loc], int | None]:
        return line_finder(self.data)

    def to_plain(self) -> Any:
        return to_plain(self.data)

    def validate(self) -> Project:
        return validate_project_data(self.to_plain(), file=self.file, lines=self.lines())

    def dump(self) -> str:
        out = io.StringIO()
        _yaml(self.indent).dump(self.data, out)
        return out.getvalue()


def project_file(directory: Path) -> Path:
    return Path(directory) / PROJECT_FILE


def _guess_indent(indent: int | None, block_seq_indent: int | None) -> tuple[int, int, int]:
    if indent is None or indent < 1:
        return _DEFAULT_INDENT
    if block_seq_indent is None:
        return (indent, indent + 2, indent)
    offset = max(block_seq_indent, 0)
    mapping = indent - offset if indent - offset >= 2 else 2
    return (mapping, max(indent, offset + 2), offset)


def load_document(directory: Path) -> ProjectDocument:
    """Read and parse ``DIR/project.yaml`` without validating it."""
    directory = Path(directory)
    path = project_file(directory)
    hint = f"create one with `domogate project new {directory} --name NAME`"
    if not directory.exists():
        raise InvalidInput(f"project folder {directory} does not exist; {hint}")
    if not directory.is_dir():
        raise InvalidInput(
            f"{directory} is not a folder; a project is a folder holding {PROJECT_FILE}"
        )
    if not path.is_file():
        raise InvalidInput(f"{path} not found: {directory} is not a project folder; {hint}")
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"Cannot read {path}: {exc.strerror or exc}.") from None
    if size > MAX_FILE_BYTES:
        raise _limit_error(
            path,
            _YamlLimit(
                f"{size} bytes, more than the {MAX_FILE_BYTES // (1024 * 1024)} MiB a project "
                "file may hold; is it the right file?",
                None,
            ),
        )
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ProjectInvalid(
            f"{path} is not UTF-8 text",
            problems=[
                {
                    "file": str(path),
                    "path": "(top level)",
                    "line": None,
                    "message": f"not UTF-8 text ({exc.reason} at byte {exc.start})",
                }
            ],
        ) from None
    try:
        data, indent, block_seq_indent = load_yaml_guess_indent(text, yaml=_yaml())
    except YAMLError as exc:
        raise _yaml_error(path, exc) from None
    except _YamlLimit as exc:
        raise _limit_error(path, exc) from None
    return ProjectDocument(path, data, _guess_indent(indent, block_seq_indent))


def _yaml_error(path: Path, exc: YAMLError) -> ProjectInvalid:
    line: int | None = None
    if isinstance(exc, MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or exc.context or "malformed YAML"
        # A duplicated key's message quotes both values, which may be secrets.
        what = _DUPLICATE_VALUES_RE.sub("", what)
        if mark is not None:
            line = mark.line + 1
            what = f"{what} at line {line}, column {mark.column + 1}"
        if exc.context and exc.problem:
            context = exc.context
            cmark = exc.context_mark
            if cmark is not None and (mark is None or cmark.line != mark.line):
                context += f" started at line {cmark.line + 1}, column {cmark.column + 1}"
            what = f"{what} ({context})"
    else:
        first = str(exc).strip().splitlines()
        what = first[0] if first else "malformed YAML"
    problem = {
        "file": str(path),
        "path": "(top level)",
        "line": line,
        "message": f"not valid YAML: {what}",
    }
    return ProjectInvalid(f"{path} is not valid YAML", problems=[problem])


def _limit_error(path: Path, exc: _YamlLimit) -> ProjectInvalid:
    where = f" at line {exc.line}" if exc.line is not None else ""
    problem = {
        "file": str(path),
        "path": "(top level)",
        "line": exc.line,
        "message": f"refused{where}: {exc.message}",
    }
    return ProjectInvalid(f"{path} is refused: {exc.message}", problems=[problem])


def load_project(directory: Path) -> Project:
    """Read and validate ``DIR/project.yaml``."""
    return load_document(directory).validate()


def to_plain(node: Any) -> Any:
    """Plain Python data (dict, list, str, int, float, bool, None) of a round-trip tree."""
    if isinstance(node, dict):
        return {to_plain(k): to_plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [to_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if type(node).__name__ == "ScalarBoolean":
        return bool(node)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node


def _key_line(node: CommentedMap, key: Any) -> int | None:
    try:
        position = node.lc.key(key)
    except (KeyError, TypeError, AttributeError):
        return None
    return None if position is None else int(position[0]) + 1


def _item_line(node: CommentedSeq, index: int) -> int | None:
    try:
        position = node.lc.item(index)
    except (KeyError, TypeError, AttributeError, IndexError):
        return None
    return None if position is None else int(position[0]) + 1


def line_finder(root: Any) -> Callable[[Loc], int | None]:
    """A function mapping a key path to its 1-based line, falling back to the nearest parent."""

    def lines(loc: Loc) -> int | None:
        node = root
        best: int | None = 1
        if isinstance(node, CommentedMap | CommentedSeq) and node.lc.line is not None:
            best = int(node.lc.line) + 1
        for part in loc:
            if isinstance(node, CommentedMap) and not isinstance(part, int) and part in node:
                best = _key_line(node, part) or best
                node = node[part]
            elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
                best = _item_line(node, part) or best
                node = node[part]
            else:
                break
        return best

    return lines


def _to_node(value: Any) -> Any:
    if isinstance(value, dict):
        mapping = CommentedMap()
        for k, v in value.items():
            mapping[k] = _to_node(v)
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(_to_node(v) for v in value)
        seq.fa.set_block_style()
        return seq
    return value


def _atomic_write(path: Path, text: str) -> None:
    try:
        _atomic_write_unchecked(path, text)
    except OSError as exc:
        raise InvalidInput(f"Cannot write {path}: {exc.strerror or exc}.") from exc


def _atomic_write_unchecked(path: Path, text: str) -> None:
    directory = path.parent
    try:
        mode: int | None = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = None  # new file: mkstemp's 0600 (it may hold password hashes)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as tmp:
            tmp.write(text)
            tmp.flush()
            os.fsync(tmp.fileno())
        if mode is not None:
            os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(dir_fd)
    except OSError:
        pass
    finally:
        os.close(dir_fd)


def save_project_document(document: ProjectDocument) -> Project:
    """Validate ``document`` and write it atomically; nothing is written when it is invalid."""
    project = document.validate()
    _atomic_write(document.path, document.dump())
    return project


def new_project_document(directory: Path, project: Project) -> ProjectDocument:
    """A fresh document for ``project``, with a header and a comment before each section."""
    data = _to_node(project_to_data(project))
    data.yaml_set_start_comment(HEADER)
    for key, comment in _SECTION_COMMENTS.items():
        if key in data:
            data.yaml_set_comment_before_after_key(key, before="\n" + comment)
    return ProjectDocument(project_file(Path(directory)), data)


def write_new_project(directory: Path, project: Project, *, force: bool = False) -> Path:
    """Create ``DIR/project.yaml`` for ``project``; refuse to replace one unless ``force``."""
    directory = Path(directory)
    path = project_file(directory)
    if directory.exists() and not directory.is_dir():
        raise InvalidInput(f"{directory} exists and is not a folder")
    if path.exists() and path.stat().st_size > 0 and not force:
        raise Conflict(
            f"{path} already exists; edit it with `domogate project set`, "
            "or pass --force to replace it"
        )
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(f"Cannot create {directory}: {exc.strerror or exc}.") from exc
    save_project_document(new_project_document(directory, project))
    return path


# --- editing -------------------------------------------------------------------------


def _root_map(document: ProjectDocument) -> CommentedMap:
    if not isinstance(document.data, CommentedMap):
        document.validate()  # raises a ProjectInvalid naming the problem
        raise InvalidInput(f"{document.path}: the top level is not a mapping")
    return document.data


Slot = tuple[Any, Any, int]
Moves = list[tuple[Slot, Any]]


def _insert_key(
    node: CommentedMap, key: str, value: Any, order: Iterable[str], moves: Moves | None = None
) -> None:
    """Add ``key`` to ``node`` at its place in the model's key order.

    When the key goes last, the comment lines that followed the previous last value (the
    comment heading the next section) must follow the new one: that move is done at once,
    or recorded in ``moves`` when ``value`` is still being filled.
    """
    if key in node:  # present with an empty value (`users:`)
        node[key] = value
        return
    order = list(order)
    rank = order.index(key) if key in order else len(order)
    for pos, existing in enumerate(node):
        if existing in order and order.index(existing) > rank:
            node.insert(pos, key, value)
            return
    slot = _trailing_slot(node)
    node[key] = value
    if slot is not None:
        if moves is None:
            _carry_comment(slot, node)
        else:
            moves.append((slot, node))


def _settle(moves: Moves) -> None:
    for slot, node in moves:
        _carry_comment(slot, node)


def _child_map(
    node: CommentedMap, key: str, order: Iterable[str], where: str, moves: Moves | None = None
) -> CommentedMap:
    child = node.get(key)
    if child is None:
        child = CommentedMap()
        _insert_key(node, key, child, order, moves)
    elif not isinstance(child, CommentedMap):
        raise InvalidInput(
            f"cannot edit {where}: it is not a mapping in {PROJECT_FILE}; fix it by hand"
        )
    return child


def _item_list(root: CommentedMap, list_key: str) -> CommentedSeq:
    """The list ``groups``/``users``/... of the document, created (with defaults) if absent."""
    seq = root.get(list_key)
    if seq is None:
        default = project_to_data(Project(name="default"))[list_key]
        seq = _to_node(default)
        _insert_key(root, list_key, seq, Project.model_fields)
    elif not isinstance(seq, CommentedSeq):
        raise InvalidInput(
            f"cannot edit {list_key}: it is not a list in {PROJECT_FILE}; fix it by hand"
        )
    result: CommentedSeq = seq
    result.fa.set_block_style()
    return result


def _trailing_slot(node: Any) -> Slot | None:
    """Where ruamel keeps the comment lines that follow the last value of ``node``."""
    if isinstance(node, CommentedMap) and len(node):
        key: Any = list(node)[-1]
        position = 2
    elif isinstance(node, CommentedSeq) and len(node):
        key, position = len(node) - 1, 0
    else:
        return None
    deeper = _trailing_slot(node[key])
    if deeper is not None:
        return deeper
    entry = node.ca.items.get(key)
    if entry and len(entry) > position and entry[position] is not None:
        return (node, key, position)
    return None


def _deepest_last(node: Any) -> Slot | None:
    if isinstance(node, CommentedMap) and len(node):
        key: Any = list(node)[-1]
        position = 2
    elif isinstance(node, CommentedSeq) and len(node):
        key, position = len(node) - 1, 0
    else:
        return None
    return _deepest_last(node[key]) or (node, key, position)


def _carry_comment(slot: Slot, node: Any) -> None:
    """Move the comment lines held at ``slot`` (all but its end-of-line comment) after the
    last value of ``node``.

    ruamel attaches the comment block heading the next section (``# Users``) to the last
    value of the previous one; without this move, what is appended to a section would land
    after that comment.
    """
    target = _deepest_last(node)
    if target is None or target[:2] == slot[:2]:
        return
    container, key, position = slot
    token = container.ca.items[key][position]
    value = str(getattr(token, "value", ""))
    newline = value.find("\n")
    if newline == -1 or not value[newline + 1 :]:
        return
    keep, move = value[: newline + 1], value[newline + 1 :]
    if keep.strip():
        token.value = keep
    else:
        container.ca.items[key][position] = None
    target_container, target_key, target_position = target
    entry: list[Any] = [None, None, None, None]
    entry[target_position] = CommentToken("\n" + move, CommentMark(0))
    target_container.ca.items[target_key] = entry


def _append_item(root: CommentedMap, list_key: str, item: CommentedMap) -> None:
    """Append ``item`` after the list's last item and before the comment that follows it."""
    seq = _item_list(root, list_key)
    slot = _trailing_slot(seq)
    if not len(seq):
        # An empty `users: []  # comment` keeps its comment lines on the key.
        entry = root.ca.items.get(list_key)
        if entry and len(entry) > 2 and entry[2] is not None:
            slot = (root, list_key, 2)
    seq.append(item)
    if slot is not None:
        _carry_comment(slot, seq)


def _same_name(list_key: str, a: Any, b: str) -> bool:
    if not isinstance(a, str):
        return False
    if list_key == "users":
        return name_key(a) == name_key(b)
    return a == b


def _find_item(seq: CommentedSeq, list_key: str, name: str) -> int | None:
    id_key = ITEM_KEYS[list_key]
    for index, item in enumerate(seq):
        if isinstance(item, dict) and _same_name(list_key, item.get(id_key), name):
            return index
    return None


def _item_names(seq: CommentedSeq, list_key: str) -> list[str]:
    id_key = ITEM_KEYS[list_key]
    return [str(item.get(id_key)) for item in seq if isinstance(item, dict)]


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
class _Target:
    node: CommentedMap
    key: str
    annotation: Any
    order: list[str]
    loc: Loc


def _resolve(root: CommentedMap, dotted_key: str, moves: Moves | None = None) -> _Target:
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
            return _Target(node, part, annotation, list(fields), (*loc, part))
        if submodel is not None:
            node = _child_map(node, part, fields, full, moves)
            model, loc, prefix, i = submodel, (*loc, part), full + ".", i + 1
            continue
        if is_list_of_items:
            seq = _item_list(root, part) if part in root or part == "groups" else CommentedSeq()
            # Names may contain dots ("j.doe"): try the longest name that exists.
            index: int | None = None
            end = len(parts)
            for end in range(len(parts), i + 1, -1):
                index = _find_item(seq, part, ".".join(parts[i + 1 : end]))
                if index is not None:
                    break
            if index is None:
                name = parts[i + 1]
                names = _item_names(seq, part)
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
            bindings = _child_map(node, part, fields, full, moves)
            node = _child_map(bindings, name, list(bindings), f"{full}.{name}", moves)
            model, loc = Binding, (*loc, part, name)
            prefix, i = f"{full}.{name}.", i + 2
            continue
        raise ConfigKeyInvalid(
            f"{full!r} is a value and has no key {parts[i + 1]!r}", key=dotted_key
        )


def _parse_yaml_scalar(raw: str) -> Any:
    try:
        yaml = YAML(typ="safe", pure=True)
        yaml.Composer = _GuardedComposer
        return to_plain(yaml.load(raw))
    except (YAMLError, _YamlLimit):
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
            return _to_node(parsed)
        if isinstance(parsed, str):
            return _to_node([p.strip() for p in parsed.split(",") if p.strip()])
        return parsed
    if base is str or (isinstance(base, type) and issubclass(base, Enum)):
        return raw
    return _parse_yaml_scalar(raw)


def _is_password_key(loc: Loc) -> bool:
    return loc == ("system", "password") or (
        len(loc) == 3 and loc[0] == "users" and loc[2] == "password"
    )


def _looks_like_hash(value: str) -> bool:
    return value.startswith("$argon2id$")


def set_key(directory: Path, dotted_key: str, raw_value: str) -> Project:
    """Set one key (``system.cloud.connection_policy``, ``users.alice.admin``, ...).

    The value is read according to the key's type (``true``, ``7550``, ``null``, text).
    The project is validated before writing; when invalid the file is left unchanged.
    """
    document = load_document(directory)
    root = _root_map(document)
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
        and not (isinstance(value, str) and _looks_like_hash(value))
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
        _insert_key(target.node, target.key, value, target.order, moves)
    _settle(moves)
    return save_project_document(document)


def add_group(directory: Path, name: str, description: str = "") -> Project:
    """Append a group; a group with the same name is a conflict."""
    document = load_document(directory)
    root = _root_map(document)
    groups = _item_list(root, "groups")
    if _find_item(groups, "groups", name) is not None:
        raise Conflict(f"group {name!r} already exists")
    item = CommentedMap()
    item["name"] = name
    item["description"] = description
    _append_item(root, "groups", item)
    return save_project_document(document)


def remove_item(directory: Path, list_key: str, name: str) -> Project:
    """Remove a group, user, page or object by its name or id. The project is validated
    first: removing something still referred to (a group with users) is refused, with
    the referring keys named, and the file is left unchanged."""
    document = load_document(directory)
    root = _root_map(document)
    seq = _item_list(root, list_key)
    index = _find_item(seq, list_key, name)
    if index is None:
        known = ", ".join(_item_names(seq, list_key)) or "(none)"
        raise InvalidInput(f"no {list_key[:-1]} named {name!r} (known: {known})")
    del seq[index]
    return save_project_document(document)


def add_user(
    directory: Path,
    name: str,
    group: str | None = None,
    admin: bool = False,
    password_hash: str | None = None,
) -> Project:
    """Append an initial user; ``group`` defaults to the project's first group."""
    if password_hash is not None and not _looks_like_hash(password_hash):
        raise InvalidInput("a user's password must be given as an Argon2id hash")
    document = load_document(directory)
    root = _root_map(document)
    current = document.validate()
    chosen = group if group is not None else current.default_group()
    if chosen not in current.group_names():
        raise InvalidInput(
            f"unknown group {chosen!r}; known groups: {', '.join(current.group_names())} "
            "(add one with `domogate project group add`)"
        )
    if current.user(name) is not None:
        raise Conflict(f"user {name!r} already exists (user names are case-insensitive)")
    item = CommentedMap()
    item["name"] = name
    item["group"] = chosen
    item["admin"] = admin
    item["password"] = password_hash
    _append_item(root, "users", item)
    return save_project_document(document)


def set_service_password(directory: Path, password_hash: str) -> Project:
    """Store the service password's Argon2id hash in ``system.password``."""
    if not _looks_like_hash(password_hash):
        raise InvalidInput("the service password must be given as an Argon2id hash")
    document = load_document(directory)
    root = _root_map(document)
    moves: Moves = []
    system = _child_map(root, "system", Project.model_fields, "system", moves)
    if "password" in system:
        system["password"] = password_hash
    else:
        _insert_key(system, "password", password_hash, _model_fields("system"), moves)
    _settle(moves)
    return save_project_document(document)


def set_user_password(directory: Path, name: str, password_hash: str | None) -> Project:
    """Store (or clear, with None) the Argon2id hash of an initial user's password."""
    if password_hash is not None and not _looks_like_hash(password_hash):
        raise InvalidInput("a user's password must be given as an Argon2id hash")
    document = load_document(directory)
    root = _root_map(document)
    users = root.get("users")
    index = _find_item(users, "users", name) if isinstance(users, CommentedSeq) else None
    if index is None or not isinstance(users[index], CommentedMap):
        known = _item_names(users, "users") if isinstance(users, CommentedSeq) else []
        raise InvalidInput(
            f"unknown user {name!r}; known users: {', '.join(known) if known else '(none)'}"
        )
    target = _Target(users[index], "password", None, list(ProjectUser.model_fields), ())
    if target.key in target.node:
        target.node[target.key] = password_hash
    else:
        _insert_key(target.node, target.key, password_hash, target.order)
    return save_project_document(document)


def _model_fields(section: str) -> list[str]:
    model = _model_of(Project.model_fields[section].annotation)
    return list(model.model_fields) if model is not None else []


def get_key(project: Project, dotted_key: str) -> Any:
    """The JSON value at ``dotted_key`` in ``project``, addressed as :func:`set_key` does."""
    root = _to_node(project_to_data(project))
    target = _resolve(root, dotted_key)
    return to_plain(target.node.get(target.key))


# --- ETS import ------------------------------------------------------------------------


def _binding_node(binding: PlannedBinding) -> CommentedMap:
    """``{address: 1/2/3, dpt: "9.001"}`` on one line, the datapoint type quoted."""
    node = CommentedMap()
    node["address"] = binding.address
    node["dpt"] = DoubleQuotedScalarString(binding.dpt)
    node.fa.set_flow_style()
    return node


def _object_node(candidate: Candidate) -> CommentedMap:
    node = CommentedMap()
    node["id"] = candidate.id
    node["name"] = candidate.name
    node["type"] = candidate.type
    node["page"] = candidate.page.id
    bindings = CommentedMap()
    for binding in candidate.bindings:
        bindings[binding.key] = _binding_node(binding)
    node["bindings"] = bindings
    return node


@dataclass
class ImportTarget:
    """A project loaded (and validated) for an import: its document, its content as
    validated, and the bytes read, to notice a change made while the export is parsed."""

    document: ProjectDocument
    project: Project
    original: bytes


def begin_import(directory: Path) -> ImportTarget:
    """Load and validate ``DIR/project.yaml`` before an import; an invalid project is
    reported as it is, not merged into."""
    path = project_file(Path(directory))
    try:
        original = path.read_bytes()
    except OSError:
        original = b""  # load_document says what is wrong
    document = load_document(directory)
    _root_map(document)
    return ImportTarget(document, document.validate(), original)


def finish_import(target: ImportTarget, plan: ImportPlan) -> tuple[Project, bool]:
    """Apply ``plan`` (pages, objects and bindings to add) to the loaded document, validate
    the result and write it atomically. Nothing else is touched. When the plan adds nothing
    the file is not written at all. Returns the project and whether the file was written."""
    if not plan.changed:
        return target.project, False
    document = target.document
    root = _root_map(document)
    for page in plan.pages:
        _append_item(root, "pages", _to_node(page.data()))
    objects = _item_list(root, "objects") if plan.bindings else None
    for object_id, binding in plan.bindings:
        assert objects is not None
        index = _find_item(objects, "objects", object_id)
        item = objects[index] if index is not None else None
        if not isinstance(item, CommentedMap):
            raise InvalidInput(f"cannot edit objects.{object_id}: it is not a mapping")
        moves: Moves = []
        bindings = _child_map(
            item, "bindings", ProjectObject.model_fields, f"objects.{object_id}.bindings", moves
        )
        _insert_key(bindings, binding.key, _binding_node(binding), [], moves)
        _settle(moves)
    for candidate in plan.objects:
        _append_item(root, "objects", _object_node(candidate))
    project = document.validate()
    text = document.dump()
    try:
        current = document.path.read_bytes()
    except OSError:
        current = b""
    if current != target.original:
        raise Conflict(
            f"{document.path} changed while the ETS export was being imported; "
            "nothing was written: run the import again"
        )
    _atomic_write(document.path, text)
    return project, True


def apply_import(
    directory: Path, plan_for: Callable[[Project], ImportPlan]
) -> tuple[Project, ImportPlan, bool]:
    """:func:`begin_import`, ``plan_for(current project)``, :func:`finish_import`."""
    target = begin_import(directory)
    plan = plan_for(target.project)
    project, written = finish_import(target, plan)
    return project, plan, written
