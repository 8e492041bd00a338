"""``domogate project group add|remove`` and ``domogate project user add|remove|password``."""

from __future__ import annotations

from pathlib import Path

import typer

from domogate.cli.app import App
from domogate.cli.output import print_json
from domogate.cli.project_cmd import (
    DIR_ARGUMENT,
    JSON_OPTION,
    MASK,
    _help,
    _passwords,
    _read_new_password,
)
from domogate.errors import InvalidInput
from domogate.storage import projectfile

group_app = App(help="Manage the project's groups.", no_args_is_help=True)
user_app = App(help="Manage the project's initial users.", no_args_is_help=True)


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


def register(project_app: typer.Typer) -> None:
    """Add ``group`` and ``user`` to ``domogate project``."""
    project_app.add_typer(group_app, name="group")
    project_app.add_typer(user_app, name="user")
