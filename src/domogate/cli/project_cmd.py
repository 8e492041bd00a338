"""`domogate project …`: the configurator.

Creates a project folder, edits its ``project.yaml`` (keeping comments and key order),
hashes passwords with Argon2id, shows and validates the project, imports an ETS export.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

from domogate.cli.app import App
from domogate.cli.env import argon2_parameters_from_env
from domogate.cli.output import print_json, terminal_text
from domogate.core import ets
from domogate.core.project import Project, project_to_data, validate_project_data
from domogate.errors import ImportFailed, InvalidInput
from domogate.security.passwords import Passwords
from domogate.storage import projectfile
from domogate.storage.ets import PASSWORD_REQUIRED, EtsExport, read_export

MASK = "***"

app = App(
    help=(
        "Create, edit and validate a project folder (the configurator).\n\n"
        "A project is a folder holding project.yaml: system options, server addresses, "
        "groups, initial users, pages and objects. Edit it with these commands or by hand, "
        "then check it with `domogate project validate DIR`.\n\n"
        "Example: domogate project new ./home --name 'Home'; "
        "domogate project set ./home system.cloud.connection_policy local_and_cloud"
    ),
    no_args_is_help=True,
)
group_app = App(help="Manage the project's groups.", no_args_is_help=True)
user_app = App(help="Manage the project's initial users.", no_args_is_help=True)
app.add_typer(group_app, name="group")
app.add_typer(user_app, name="user")

DIR_ARGUMENT = typer.Argument(
    ..., metavar="DIR", help="Project folder (holds project.yaml).", show_default=False
)
JSON_OPTION = typer.Option(False, "--json", help="Print the result as JSON.")


def _help(*paragraphs: str, examples: tuple[str, ...] = ()) -> str:
    """Help text: paragraphs, then one example command per line."""
    text = "\n\n".join(paragraphs)
    if examples:
        text += "\n\nExamples:\n\n" + "\n".join(f"  {e}" for e in examples)
    return text


# --- helpers -----------------------------------------------------------------------


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _passwords() -> Passwords:
    return Passwords(argon2_parameters_from_env())


def _read_stdin_password() -> str:
    line = sys.stdin.readline()
    return line.removesuffix("\n").removesuffix("\r")


def _read_new_password(from_stdin: bool, what: str, option: str) -> str:
    """A new password from stdin's first line, or typed twice (hidden) on a terminal."""
    if from_stdin:
        password = _read_stdin_password()
    elif _stdin_is_tty():
        password = typer.prompt(f"New {what}", hide_input=True, confirmation_prompt=True, err=True)
    else:
        raise InvalidInput(
            f"stdin is not a terminal: pass {option} and write the {what} on stdin's first line"
        )
    if not password:
        raise InvalidInput(f"the {what} must not be empty")
    return password


def masked_project_data(project: Project) -> dict[str, Any]:
    """The project's JSON data with every secret replaced by ``***`` (unset stays null)."""
    data = project_to_data(project)
    system = data["system"]
    for holder, key in (
        (system, "password"),
        (system, "vnc_password"),
        (system["cloud"], "password"),
    ):
        if holder.get(key) is not None:
            holder[key] = MASK
    for user in data["users"]:
        if user.get("password") is not None:
            user["password"] = MASK
    return data


def _is_secret_key(dotted_key: str) -> bool:
    return dotted_key.rsplit(".", 1)[-1] in ("password", "vnc_password")


def _counts(project: Project) -> dict[str, int]:
    return {
        "groups": len(project.groups),
        "users": len(project.users),
        "pages": len(project.pages),
        "objects": len(project.objects),
    }


def _yes(value: bool) -> str:
    return "yes" if value else "no"


def _set(value: object) -> str:
    return "set" if value is not None else "not set"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


# --- commands ----------------------------------------------------------------------


@app.command(
    "new",
    help=_help(
        "Create a project folder with a new project.yaml.",
        "Without --name on a terminal, a short wizard asks for the name, address, port, "
        "OTP use and service password. Refuses to replace an existing project unless --force.",
        examples=(
            'domogate project new ./home --name "Home" --address 192.168.1.10',
            'domogate project new ./office --name "Office" --port 8443 --no-otp --json',
            "domogate project new ./home   # wizard, on a terminal",
        ),
    ),
)
def new(
    directory: Path = DIR_ARGUMENT,
    name: str | None = typer.Option(
        None, "--name", help="Project name (asked for on a terminal when missing)."
    ),
    address: str = typer.Option(
        "127.0.0.1", "--address", help="Local address or host name of the server."
    ),
    port: int = typer.Option(7550, "--port", help="Server port (1-65535)."),
    otp: bool = typer.Option(
        True, "--otp/--no-otp", help="Let admins add clients with one-time passwords."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing project.yaml."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create a project folder with a new project.yaml."""
    password_hash: str | None = None
    if name is None:
        if not _stdin_is_tty():
            raise InvalidInput(
                "--name is required when stdin is not a terminal "
                "(e.g. domogate project new DIR --name 'Home')"
            )
        name = typer.prompt("Project name", err=True)
        address = typer.prompt("Local address of the server", default=address, err=True)
        port = typer.prompt("Port", default=port, type=int, err=True)
        otp = typer.confirm(
            "Let admins add clients with one-time passwords (OTP)?", default=otp, err=True
        )
        password = typer.prompt(
            "Service password (empty: set it later with `domogate project password`)",
            default="",
            show_default=False,
            hide_input=True,
            confirmation_prompt=True,
            err=True,
        )
        if password:
            password_hash = _passwords().hash(password)
    data = {
        "name": name,
        "server": {"address": address, "port": port},
        "system": {"use_otp_authentication": otp, "password": password_hash},
    }
    path = projectfile.project_file(directory)
    project = validate_project_data(data, file=str(path))
    projectfile.write_new_project(directory, project, force=force)
    if as_json:
        print_json({"path": str(path), "project": masked_project_data(project)})
    else:
        typer.echo(f"created {path} (project {project.name!r})")
        if password_hash is None:
            typer.echo(f"next: domogate project password {directory}   # set the service password")
        else:
            typer.echo(f"next: domogate project user add {directory} NAME --admin --password-stdin")


@app.command(
    "password",
    help=_help(
        "Set the service password (stored as an Argon2id hash in system.password).",
        "The service password protects deployment and the server's maintenance page. "
        "On a terminal it is asked twice, hidden; with --stdin it is read from the first "
        "line of stdin. An empty password is refused.",
        examples=(
            "domogate project password ./home",
            'echo "$SERVICE_PASSWORD" | domogate project password ./home --stdin',
        ),
    ),
)
def password(
    directory: Path = DIR_ARGUMENT,
    stdin: bool = typer.Option(
        False, "--stdin", help="Read the password from stdin's first line (for scripts)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Set the service password (stored as an Argon2id hash in system.password)."""
    projectfile.load_project(directory)  # fail before asking when the project is broken
    secret = _read_new_password(stdin, "service password", "--stdin")
    projectfile.set_service_password(directory, _passwords().hash(secret))
    if as_json:
        print_json({"key": "system.password", "value": MASK})
    else:
        typer.echo("service password set (stored as an Argon2id hash)")


@app.command(
    "set",
    help=_help(
        "Set one key of the project; the project is validated before it is saved.",
        "Items of groups and users are addressed by name, pages and objects by id.",
        "Passwords (system.password, users.NAME.password) cannot be set in clear: use "
        "`domogate project password` and `domogate project user password`.",
        examples=(
            "domogate project set ./home system.use_otp_authentication true",
            "domogate project set ./home system.cloud.connection_policy local_and_cloud",
            "domogate project set ./home server.port 8443",
            "domogate project set ./home users.alice.admin true",
            "domogate project set ./home objects.kitchen.restrictions.visible_to family,guests",
        ),
    ),
)
def set_(
    directory: Path = DIR_ARGUMENT,
    key: str = typer.Argument(
        ..., metavar="KEY", help="Dotted key, e.g. system.cloud.connection_policy."
    ),
    value: str = typer.Argument(
        ..., metavar="VALUE", help="New value: text, a number, true/false, or null."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Set one key of the project; the project is validated before it is saved."""
    project = projectfile.set_key(directory, key, value)
    stored = projectfile.get_key(project, key)
    shown = MASK if stored is not None and _is_secret_key(key) else stored
    if as_json:
        print_json({"key": key, "value": shown})
    else:
        text = "null" if shown is None else shown
        if isinstance(shown, bool):
            text = "true" if shown else "false"
        typer.echo(f"{key} = {text}")


@app.command(
    "show",
    help=_help(
        "Show the project, with passwords masked.",
        examples=("domogate project show ./home", "domogate project show ./home --json"),
    ),
)
def show(directory: Path = DIR_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Show the project, with passwords masked."""
    project = projectfile.load_project(directory)
    if as_json:
        print_json(masked_project_data(project))
        return
    system, server = project.system, project.server
    lines = [
        f"project: {project.name}",
        f"server: {server.address}:{server.port}"
        + (f" (external: {server.external_address})" if server.external_address else ""),
        "system:",
        f"  service password: {_set(system.password)}",
        f"  VNC password: {_set(system.vnc_password)}",
        f"  use OTP authentication: {_yes(system.use_otp_authentication)}",
        f"  automatic authentication: {_yes(system.automatic_authentication)}",
        f"  automatic connection: {_yes(system.automatic_connection)}",
        f"  automatic server update: {_yes(system.automatic_server_update)}",
        f"  cloud: {'enabled' if system.cloud.enabled else 'disabled'}, "
        f"password {_set(system.cloud.password)}, "
        f"connection policy {system.cloud.connection_policy.value}",
        f"groups ({len(project.groups)}):",
    ]
    lines += [
        f"  {g.name}" + (f": {g.description}" if g.description else "") for g in project.groups
    ]
    lines.append(f"users ({len(project.users)}):")
    lines += [
        f"  {u.name} (group {u.group}{', admin' if u.admin else ''}"
        f"{', password set' if u.password else ''})"
        for u in project.users
    ]
    lines.append(f"pages ({len(project.pages)}):")
    lines += [f"  {p.id}: {p.title}" for p in project.pages]
    lines.append(f"objects ({len(project.objects)}):")
    for obj in project.objects:
        restricted = []
        if obj.restrictions.visible_to is not None:
            restricted.append("visible to " + (", ".join(obj.restrictions.visible_to) or "nobody"))
        if obj.restrictions.operable_by is not None:
            restricted.append(
                "operable by " + (", ".join(obj.restrictions.operable_by) or "nobody")
            )
        extra = f" [{'; '.join(restricted)}]" if restricted else ""
        lines.append(f"  {obj.id}: {obj.type.value} {obj.name!r} on page {obj.page}{extra}")
    typer.echo("\n".join(lines))


@app.command(
    "validate",
    help=_help(
        "Check the project; print every problem with file:line: key path: message.",
        "Exits with status 1 when the project is not valid.",
        examples=("domogate project validate ./home",),
    ),
)
def validate(directory: Path = DIR_ARGUMENT, as_json: bool = JSON_OPTION) -> None:
    """Check the project; print every problem with file:line: key path: message."""
    project = projectfile.load_project(directory)
    counts = _counts(project)
    if as_json:
        print_json({"ok": True, "name": project.name, **counts})
    else:
        summary = ", ".join(
            _count(counts[kind], kind[:-1]) for kind in ("groups", "users", "pages", "objects")
        )
        typer.echo(f"ok: {project.name} is valid ({summary})")


@group_app.command(
    "add",
    help=_help(
        "Add a group.",
        examples=('domogate project group add ./home guests --description "Visitors"',),
    ),
)
def group_add(
    directory: Path = DIR_ARGUMENT,
    name: str = typer.Argument(
        ..., metavar="NAME", help="Group name: letters, digits, '_', '.', '-'."
    ),
    description: str = typer.Option("", "--description", help="What the group is for."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add a group."""
    projectfile.add_group(directory, name, description)
    if as_json:
        print_json({"group": {"name": name, "description": description}})
    else:
        typer.echo(f"added group {name}")


@group_app.command(
    "remove",
    help=_help(
        "Remove a group. Refused while users or object restrictions still name it.",
        examples=("domogate project group remove ./home guests",),
    ),
)
def group_remove(
    directory: Path = DIR_ARGUMENT,
    name: str = typer.Argument(..., metavar="NAME", help="Group name."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a group."""
    _remove(directory, "groups", name, as_json)


@user_app.command(
    "remove",
    help=_help(
        "Remove an initial user from the project.",
        "At the next deploy the server deletes that account, unless it has enrolled "
        "devices: then it keeps it (and says so).",
        examples=("domogate project user remove ./home bob",),
    ),
)
def user_remove(
    directory: Path = DIR_ARGUMENT,
    name: str = typer.Argument(..., metavar="NAME", help="User name (case-insensitive)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove an initial user."""
    _remove(directory, "users", name, as_json)


def _remove(directory: Path, list_key: str, name: str, as_json: bool) -> None:
    kind = list_key[:-1]
    projectfile.remove_item(directory, list_key, name)
    if as_json:
        print_json({"removed": {kind: name}})
    else:
        typer.echo(f"removed {kind} {name}")


@user_app.command(
    "add",
    help=_help(
        "Add an initial user (optionally with a password, stored as an Argon2id hash).",
        "--group defaults to the project's first group.",
        examples=(
            "domogate project user add ./home alice --group family --admin",
            'echo "$PW" | domogate project user add ./home bob --password-stdin',
        ),
    ),
)
def user_add(
    directory: Path = DIR_ARGUMENT,
    name: str = typer.Argument(..., metavar="NAME", help="User name (case-insensitive)."),
    group: str | None = typer.Option(
        None, "--group", help="The user's group (default: the project's first group)."
    ),
    admin: bool = typer.Option(False, "--admin", help="Make the user an administrator."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read a password for the user from stdin's first line."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Add an initial user (optionally with a password, stored as an Argon2id hash)."""
    projectfile.load_project(directory)
    password_hash = None
    if password_stdin:
        password_hash = _passwords().hash(_read_new_password(True, "password", "--password-stdin"))
    project = projectfile.add_user(directory, name, group, admin, password_hash)
    user = project.user(name)
    assert user is not None
    if as_json:
        print_json(
            {
                "user": {
                    "name": user.name,
                    "group": user.group,
                    "admin": user.admin,
                    "password": MASK if user.password else None,
                }
            }
        )
    else:
        typer.echo(f"added user {user.name} (group {user.group}{', admin' if user.admin else ''})")


@user_app.command(
    "password",
    help=_help(
        "Set an initial user's password (stored as an Argon2id hash).",
        examples=(
            "domogate project user password ./home alice",
            'echo "$PW" | domogate project user password ./home alice --stdin',
        ),
    ),
)
def user_password(
    directory: Path = DIR_ARGUMENT,
    name: str = typer.Argument(..., metavar="NAME", help="User name."),
    stdin: bool = typer.Option(
        False, "--stdin", help="Read the password from stdin's first line (for scripts)."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Set an initial user's password (stored as an Argon2id hash)."""
    project = projectfile.load_project(directory)
    if project.user(name) is None:
        known = ", ".join(u.name for u in project.users) or "(none)"
        raise InvalidInput(f"unknown user {name!r}; known users: {known}")
    secret = _read_new_password(stdin, "password", "--stdin")
    projectfile.set_user_password(directory, name, _passwords().hash(secret))
    if as_json:
        print_json({"user": name, "password": MASK})
    else:
        typer.echo(f"password of {name} set (stored as an Argon2id hash)")


# --- ETS import ----------------------------------------------------------------------

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


@app.command(
    "import-ets",
    help=_help(
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
            'echo "$ETS_PASSWORD" | domogate project import-ets ./home house.knxproj '
            "--password-stdin",
            "domogate project import-ets ./home house.knxproj --language de-DE --json",
        ),
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
