"""`domogate project …`: the configurator.

Creates a project folder, edits its ``project.yaml`` (keeping comments and key order),
hashes passwords with Argon2id, shows and validates the project. Its groups and users
(``project_members_cmd``) and the ETS import (``project_ets_cmd``) have their own modules,
which use the helpers here; ``main`` adds them to ``app``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from domogate.cli.app import App
from domogate.cli.env import argon2_parameters_from_env
from domogate.cli.output import print_json
from domogate.core.project import Project, project_to_data
from domogate.errors import InvalidInput
from domogate.security.passwords import Passwords
from domogate.storage import projectfile

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
    project = projectfile.validate_project_data(data, file=str(path))
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
        f"connection policy {system.cloud.connection_policy.value}, "
        f"address {system.cloud.address or 'not set'}",
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
