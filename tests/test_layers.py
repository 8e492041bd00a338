"""The package's import structure (read from the source with ``ast``, nothing imported).

- No import cycle between ``domogate`` modules. Every ``import`` counts, including those
  under ``if TYPE_CHECKING:`` and inside functions: a cycle hidden from the interpreter is
  still two modules that cannot be understood one without the other.
- ``domogate.core`` stays pure. It may import the standard library, ``domogate.core`` and
  ``domogate.errors``, and the few third-party parts it used before this test existed, all
  pure computation: pydantic (the project model), cryptography (ECDSA verification of device
  keys in ``core/devicekeys.py``) and xknx's datapoint transcoders (``xknx.dpt``,
  ``xknx.exceptions``, in ``core/values.py``). Not argon2 (hash formats are checked at the
  edge, ``security/passwords.py``), not xknx's I/O, SQLAlchemy, FastAPI, asyncio or any
  adapter.
- ``domogate.services`` imports only ``domogate.core``, ``domogate.errors``,
  ``domogate.settings``, itself and the standard library: no adapter, no third-party
  package (the adapters are plugged into its ports by ``domogate/assembly.py``). The root
  package itself (``from domogate import __version__``) counts as nothing: it holds only the
  version and imports nothing.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import domogate

PACKAGE_ROOT = Path(domogate.__file__).resolve().parent

CORE_ALLOWED_THIRD_PARTY = (
    "pydantic",
    "pydantic_core",
    "cryptography",
    "xknx.dpt",
    "xknx.exceptions",
)
CORE_ALLOWED_DOMOGATE = ("domogate.core", "domogate.errors")
CORE_FORBIDDEN_STDLIB = ("asyncio", "socket", "sqlite3", "subprocess", "threading")
SERVICES_ALLOWED_DOMOGATE = (
    "domogate.services",
    "domogate.core",
    "domogate.errors",
    "domogate.settings",
)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE_ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE_ROOT.rglob("*.py"))}


def imports_of(name: str, path: Path) -> Iterator[str]:
    """Absolute names of the modules ``path`` imports (``from X import y``: ``X.y`` if that
    is a module, else ``X``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    known = modules()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                yield sub if sub in known else target


def graph() -> dict[str, set[str]]:
    known = modules()
    edges: dict[str, set[str]] = {}
    for name, path in known.items():
        edges[name] = {
            target for target in imports_of(name, path) if target in known and target != name
        }
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0

    def visit(v: str) -> None:
        nonlocal counter
        index[v] = low[v] = counter
        counter += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10_000))
    try:
        for v in sorted(edges):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return found


def test_no_import_cycle_inside_domogate() -> None:
    assert cycles(graph()) == []


def test_the_cycle_finder_finds_cycles() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def _within(name: str, prefixes: tuple[str, ...]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def test_core_imports_only_pure_parts() -> None:
    stdlib = sys.stdlib_module_names
    wrong: list[str] = []
    for name, path in modules().items():
        if not _within(name, ("domogate.core",)):
            continue
        for target in imports_of(name, path):
            top = target.split(".")[0]
            if top == "__future__":
                continue
            if top in stdlib:
                ok = top not in CORE_FORBIDDEN_STDLIB
            elif top == "domogate":
                ok = _within(target, CORE_ALLOWED_DOMOGATE)
            else:
                ok = _within(target, CORE_ALLOWED_THIRD_PARTY)
            if not ok:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_services_import_only_core_errors_settings_and_the_standard_library() -> None:
    """Directly and through what they import: ``settings`` and ``errors`` are held to the
    same rule (``core``'s own imports are checked above)."""
    stdlib = sys.stdlib_module_names
    known = modules()
    edges = graph()
    todo = [name for name in known if _within(name, ("domogate.services",))]
    seen = set(todo)
    while todo:
        for target in edges[todo.pop()]:
            if target not in seen:
                seen.add(target)
                todo.append(target)
    wrong: list[str] = []
    for name in sorted(seen):
        if _within(name, ("domogate.core",)):
            continue
        for target in imports_of(name, known[name]):
            top = target.split(".")[0]
            if top == "__future__" or top in stdlib or target == "domogate":
                continue
            if top != "domogate" or not _within(target, SERVICES_ALLOWED_DOMOGATE):
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_the_root_package_imports_nothing() -> None:
    assert list(imports_of("domogate", PACKAGE_ROOT / "__init__.py")) == []


def test_the_tests_read_this_worktree() -> None:
    assert (PACKAGE_ROOT / "core" / "project.py").is_file()
