"""The ``domogate`` command: configurator, server, deploy, client and demo.

Each command group lives in its own module; this one only assembles them.
"""

from __future__ import annotations

import typer

from domogate import __version__
from domogate.cli import (
    client_cmd,
    cloud_cmd,
    demo_cmd,
    objects_cmd,
    project_cmd,
    project_ets_cmd,
    project_members_cmd,
    server_cmd,
)
from domogate.cli.app import App

app = App(
    name="domogate",
    help=(
        "Home and building automation supervision.\n\n"
        "Integrators describe an installation as a project (`domogate project`), run a "
        "server (`domogate server`), deploy the project to it (`domogate deploy`), and add "
        "clients with one-time passwords (`domogate clients add`); clients see and operate "
        "the building (`domogate state`, `set`, `watch`). "
        "Try `domogate demo` for a running example."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"domogate {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """domogate command line."""


project_ets_cmd.register(project_cmd.app)
project_members_cmd.register(project_cmd.app)
app.add_typer(project_cmd.app, name="project")
app.add_typer(server_cmd.app, name="server")
app.add_typer(cloud_cmd.app, name="cloud")
client_cmd.register(app)
objects_cmd.register(app)
demo_cmd.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
