"""``domogate project import-ets``: objects and pages from an ETS export, with progress."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from domogate.cli.app import add_command
from domogate.cli.output import print_json, terminal_text
from domogate.cli.project_cmd import (
    DIR_ARGUMENT,
    JSON_OPTION,
    _count,
    _help,
    _read_stdin_password,
    _stdin_is_tty,
)
from domogate.core import ets
from domogate.errors import ImportFailed, InvalidInput
from domogate.storage import projectfile
from domogate.storage.ets import PASSWORD_REQUIRED, EtsExport, read_export

_IMPORT_STAGES = 4


class _Stages:
    """The import's stages, shown on stderr with rich when stderr is a terminal."""

    def __init__(self, progress: Any = None, task: Any = None) -> None:
        self._progress = progress
        self._task = task
        self._started = False

    def __call__(self, description: str) -> None:
        if self._progress is None:
            return
        if self._started:
            self._progress.advance(self._task)
        self._started = True
        self._progress.update(self._task, description=description)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """No display while something is asked on the terminal."""
        if self._progress is None:
            yield
            return
        self._progress.stop()
        try:
            yield
        finally:
            self._progress.start()


@contextmanager
def _stages(total: int) -> Iterator[_Stages]:
    """A progress display of the import's stages on stderr, only on a terminal."""
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    if not interactive:
        yield _Stages()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        stages = _Stages(progress, progress.add_task("starting", total=total))
        yield stages
        progress.update(stages._task, completed=total)


def _read_ets(
    file: Path, password: str | None, language: str | None, stage: _Stages, ask: bool
) -> EtsExport | None:
    """The parsed export; None when it needs a password that can be asked on the terminal."""
    stage(f"reading {terminal_text(file.name)} (a protected export takes a few seconds)")
    try:
        return read_export(file, password=password, language=language)
    except ImportFailed as exc:
        if ask and password is None and exc.details.get("reason") == PASSWORD_REQUIRED:
            return None
        raise


def _import_report(
    directory: Path, export: EtsExport, plan: ets.ImportPlan, written: bool
) -> dict[str, Any]:
    merged: dict[str, list[str]] = {}
    for object_id, binding in plan.bindings:
        merged.setdefault(object_id, []).append(binding.key)
    return {
        "file": str(export.path),
        "ets_project": export.name,
        "project_file": str(projectfile.project_file(directory)),
        "written": written,
        "counts": plan.counts(),
        "pages": [p.data() for p in plan.pages],
        "created": [{**c.data(), "source": c.source} for c in plan.objects],
        "merged": [{"id": i, "bindings_added": keys} for i, keys in merged.items()],
        "unchanged": plan.unchanged,
        "skipped": [s.data() for s in plan.skipped],
        "warnings": export.warnings,
    }


def _print_import(report: dict[str, Any], verbose: bool) -> None:
    t = terminal_text
    counts = report["counts"]
    lines = [
        f"imported {t(report['file'])} (ETS project {t(report['ets_project'])!r}) into "
        f"{t(report['project_file'])}",
        f"  {_count(counts['created'], 'object')} created, {counts['merged']} merged, "
        f"{counts['unchanged']} unchanged, {counts['skipped']} skipped; "
        f"{_count(counts['pages_created'], 'page')} created",
    ]
    if report["pages"]:
        lines.append("pages created:")
        lines += [f"  {t(p['id'])}: {t(p['title'])}" for p in report["pages"]]
    if report["created"]:
        lines.append("objects created:")
        for obj in report["created"]:
            addresses = ", ".join(
                f"{k} {t(b['address'])} ({t(b['dpt'])})" for k, b in obj["bindings"].items()
            )
            lines.append(
                f"  {t(obj['id'])}: {obj['type']} {t(obj['name'])!r} on page {t(obj['page'])}"
                f" [{addresses}]"
            )
    if report["merged"]:
        lines.append("objects merged (bindings added; your edits kept):")
        lines += [f"  {t(m['id'])}: + {', '.join(m['bindings_added'])}" for m in report["merged"]]
    if report["unchanged"] and verbose:
        lines.append("objects already there, unchanged:")
        lines += [f"  {t(i)}" for i in report["unchanged"]]
    if report["skipped"]:
        lines.append("skipped:")
        lines += [
            "  " + t(str(ets.Skipped(s["address"], s["name"], s["reason"])))
            for s in report["skipped"]
        ]
    if not report["written"]:
        lines.append(
            f"nothing to change: {t(report['project_file'])} already holds everything "
            "this export describes (file not rewritten)"
        )
    typer.echo("\n".join(lines))
    for warning in report["warnings"]:
        typer.echo(f"warning: xknxproject: {t(warning)}", err=True)


IMPORT_ETS_HELP = _help(
    "Create objects and pages from an ETS project export (.knxproj).",
    "ETS 6 functions become switches, dimmers, shutters and thermostats on the page of "
    "their room; every other group address becomes an object by its datapoint type, on "
    "the page of its main group; group addresses without a datapoint type are skipped "
    "(and listed). Running it again merges: objects already imported are found again "
    "and keep your edits (name, page, restrictions); only new group addresses and "
    "missing bindings are added. The project is validated before it is written. "
    "See docs/project.md, 'Importing from ETS'.",
    "A password-protected export asks for its password on a terminal; scripts pass "
    "--password-stdin and write it on stdin's first line.",
    examples=(
        "domogate project import-ets ./home house.knxproj",
        'echo "$ETS_PASSWORD" | domogate project import-ets ./home house.knxproj --password-stdin',
        "domogate project import-ets ./home house.knxproj --language de-DE --json",
    ),
)


def import_ets(
    directory: Path = DIR_ARGUMENT,
    file: Path = typer.Argument(
        ..., metavar="FILE.knxproj", help="The project exported from ETS.", show_default=False
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the export's password from stdin's first line."
    ),
    language: str | None = typer.Option(
        None,
        "--language",
        metavar="LANG",
        help="Language of the names ETS translates (function types…), e.g. de-DE or en-US.",
    ),
    verbose: bool = typer.Option(
        False, "--verbose", "-v", help="Also list the objects that were already there."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create objects and pages from an ETS project export (.knxproj)."""
    password: str | None = None
    if password_stdin:
        password = _read_stdin_password()
        if not password:
            raise InvalidInput("--password-stdin: stdin's first line (the password) is empty")
    ask = not password_stdin and _stdin_is_tty() and not as_json
    with _stages(_IMPORT_STAGES) as stage:
        stage(f"reading {terminal_text(projectfile.project_file(directory))}")
        target = projectfile.begin_import(directory)  # a broken project fails first
        export = _read_ets(file, password, language, stage, ask)
        if export is None:
            with stage.paused():
                password = typer.prompt(f"Password of {file.name}", hide_input=True, err=True)
            export = read_export(file, password=password, language=language)
        assert export is not None
        ga_count = len(export.data.get("group_addresses") or {})
        fn_count = len(export.data.get("functions") or {})
        stage(f"mapping {ga_count} group addresses and {fn_count} functions")
        plan = ets.import_plan(target.project, export.data)
        stage("validating and writing project.yaml")
        _, written = projectfile.finish_import(target, plan)
    report = _import_report(directory, export, plan, written)
    if as_json:
        print_json(report)
    else:
        _print_import(report, verbose)


def register(project_app: typer.Typer) -> None:
    """Add ``import-ets`` to ``domogate project``."""
    add_command(project_app, "import-ets", import_ets, help=IMPORT_ETS_HELP)
