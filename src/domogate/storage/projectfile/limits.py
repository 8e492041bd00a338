"""Limits on hostile project files (docs/security.md, "Input limits"): size, nesting
depth, aliases and the nodes they expand to, enforced while the YAML is scanned and composed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml.composer import Composer
from ruamel.yaml.events import AliasEvent
from ruamel.yaml.scanner import RoundTripScanner

from domogate.errors import ProjectInvalid

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


class YamlLimit(Exception):
    """A limit of the guarded composer, with the 1-based line where it was exceeded."""

    def __init__(self, message: str, line: int | None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _line_of(event: Any) -> int | None:
    mark = getattr(event, "start_mark", None)
    return None if mark is None else int(mark.line) + 1


def _too_deep(line: int | None) -> YamlLimit:
    return YamlLimit(
        f"nested more than {MAX_DEPTH} levels deep; a project needs far fewer: "
        "flatten this part of the file",
        line,
    )


class GuardedScanner(RoundTripScanner):
    """Stops at the 65th open ``[``/``{`` at once: ruamel's scanner looks up to 1024
    characters ahead for a possible key, over every open level (about a second of work
    for ``[[[[...``) before the composer sees the first one."""

    def fetch_flow_collection_start(self, TokenClass: Any, to_push: str) -> None:
        if len(self.flow_context) >= MAX_DEPTH:
            raise _too_deep(int(self.reader.line) + 1)
        super().fetch_flow_collection_start(TokenClass, to_push)


class GuardedComposer(Composer):
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
            raise YamlLimit(
                f"more than {MAX_ALIASES} aliases (*name); write the values out instead",
                line,
            )
        anchor = event.anchor
        if anchor in self.anchors and anchor not in self._done:
            raise YamlLimit(
                f"alias *{anchor} refers to a node that contains it (a recursive structure)",
                line,
            )
        size, height = self._done.get(anchor, (1, 1))
        self._added += size
        self._nodes += size
        if self._added > MAX_EXPANDED_NODES:
            raise YamlLimit(
                f"aliases (*name) expand the file beyond {MAX_EXPANDED_NODES} values "
                "(an alias bomb?); write the values out instead of repeating aliases",
                line,
            )
        if self.depth + height > MAX_DEPTH:
            raise YamlLimit(
                f"alias *{anchor} nests the document more than {MAX_DEPTH} levels deep",
                line,
            )
        self._child(height)
        return super().compose_node(parent, index)


def limit_error(path: Path, exc: YamlLimit) -> ProjectInvalid:
    where = f" at line {exc.line}" if exc.line is not None else ""
    problem = {
        "file": str(path),
        "path": "(top level)",
        "line": exc.line,
        "message": f"refused{where}: {exc.message}",
    }
    return ProjectInvalid(f"{path} is refused: {exc.message}", problems=[problem])
