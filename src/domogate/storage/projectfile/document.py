"""The project document: ``project.yaml`` loaded as a round-trip tree (comments, key order,
quoting and indentation kept), line numbers of key paths, validation, atomic writes.

Every change is validated before anything is written, and writes are atomic
(:func:`domogate.files.write_atomic`): a failed or refused change leaves the file unchanged,
byte for byte. Validation problems carry the file, the key path and the line.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.representer import RoundTripRepresenter
from ruamel.yaml.util import load_yaml_guess_indent

from domogate.core import validation
from domogate.core.keypaths import LinesFunction
from domogate.core.project import (
    Loc,
    Project,
    project_to_data,
)
from domogate.errors import Conflict, InvalidInput, ProjectInvalid
from domogate.files import write_atomic
from domogate.security.passwords import is_well_formed_hash
from domogate.storage.projectfile.limits import (
    MAX_FILE_BYTES,
    GuardedComposer,
    GuardedScanner,
    YamlLimit,
    limit_error,
)

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

_DUPLICATE_VALUES_RE = re.compile(r' with value ".*" \(original value: ".*"\)', re.DOTALL)

_DEFAULT_INDENT = (2, 4, 2)  # mapping, sequence, offset: "key:\n  - item: 1"


class _Representer(RoundTripRepresenter):
    """Round-trip representer that writes ``null`` explicitly (not an empty value)."""


_Representer.add_representer(
    type(None),
    lambda representer, _data: representer.represent_scalar("tag:yaml.org,2002:null", "null"),
)


def _yaml(indent: tuple[int, int, int] = _DEFAULT_INDENT) -> YAML:
    yaml = YAML(typ="rt")
    yaml.Scanner = GuardedScanner
    yaml.Composer = GuardedComposer
    yaml.Representer = _Representer
    yaml.preserve_quotes = True
    yaml.width = 4096
    mapping, sequence, offset = indent
    yaml.indent(mapping=mapping, sequence=sequence, offset=offset)
    return yaml


# --- the document --------------------------------------------------------------------


def validate_project_data(
    data: object, *, file: str = "project.yaml", lines: LinesFunction | None = None
) -> Project:
    """:func:`domogate.core.validation.validate_project_data` with the format check of
    password hashes (Argon2 lives here at the edge, not in the core)."""
    return validation.validate_project_data(
        data, file=file, lines=lines, hash_format=is_well_formed_hash
    )


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
        raise limit_error(
            path,
            YamlLimit(
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
    except YamlLimit as exc:
        raise limit_error(path, exc) from None
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


def to_node(value: Any) -> Any:
    if isinstance(value, dict):
        mapping = CommentedMap()
        for k, v in value.items():
            mapping[k] = to_node(v)
        return mapping
    if isinstance(value, list):
        seq = CommentedSeq(to_node(v) for v in value)
        seq.fa.set_block_style()
        return seq
    return value


def save_project_document(document: ProjectDocument) -> Project:
    """Validate ``document`` and write it atomically; nothing is written when it is invalid."""
    project = document.validate()
    write_text_atomic(document.path, document.dump())
    return project


def new_project_document(directory: Path, project: Project) -> ProjectDocument:
    """A fresh document for ``project``, with a header and a comment before each section."""
    data = to_node(project_to_data(project))
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


def write_text_atomic(path: Path, text: str) -> None:
    try:
        mode = path.stat().st_mode & 0o777
    except FileNotFoundError:
        mode = 0o600  # a new file may hold password hashes
    except OSError as exc:
        raise InvalidInput(f"Cannot write {path}: {exc.strerror or exc}.") from exc
    try:
        write_atomic(path, text.encode("utf-8"), mode)
    except OSError as exc:
        raise InvalidInput(f"Cannot write {path}: {exc.strerror or exc}.") from exc
