"""The tests' own layout (read with ``ast``, nothing imported).

- No module under ``tests/`` imports a ``conftest``: shared helpers live in ``tests.support``,
  ``conftest.py`` files hold fixtures (pytest finds them by folder).
- No module imports a test module (``test_*``): a helper two test files need goes to
  ``tests.support``.
- Benchmarks import nothing from ``tests`` (they have ``benchmarks/support.py``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

TESTS = Path(__file__).resolve().parent
BENCHMARKS = TESTS.parent / "benchmarks"


def imported_modules(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            yield node.lineno, base
            for alias in node.names:  # `from tests.web import conftest`
                yield node.lineno, f"{base}.{alias.name}"


def _where(path: Path, line: int, name: str) -> str:
    return f"{path.relative_to(TESTS.parent)}:{line}: {name}"


def test_no_test_module_imports_a_conftest() -> None:
    found = [
        _where(path, line, name)
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in imported_modules(path)
        if "conftest" in name.split(".")
    ]
    assert found == [], "import shared helpers from tests.support, not a conftest"


def test_no_module_imports_a_test_module() -> None:
    found = [
        _where(path, line, name)
        for path in sorted(TESTS.rglob("*.py"))
        for line, name in imported_modules(path)
        if name.startswith("tests.") and any(p.startswith("test_") for p in name.split("."))
    ]
    assert found == [], "move helpers two test files need to tests.support"


def test_benchmarks_import_nothing_from_tests() -> None:
    found = [
        _where(path, line, name)
        for path in sorted(BENCHMARKS.glob("*.py"))
        for line, name in imported_modules(path)
        if name == "tests" or name.startswith("tests.")
    ]
    assert found == [], "benchmarks use benchmarks/support.py"


def test_the_checks_see_an_import_of_a_conftest(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text(
        "from tests.e2e.conftest import run\nfrom tests.web import conftest\n"
        "def f():\n    import tests.services.conftest\n",
        encoding="utf-8",
    )
    lines = {line for line, name in imported_modules(probe) if "conftest" in name.split(".")}
    assert lines == {1, 2, 4}
