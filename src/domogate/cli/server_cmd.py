"""`domogate server …`: run the server and its local maintenance commands."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import platformdirs
import typer

from domogate.cli.output import print_json, reporting_errors
from domogate.errors import InvalidInput

app = typer.Typer(
    help=(
        "Run the server, or maintain its data folder locally.\n\n"
        "Without a subcommand it runs the server:\n\n"
        "  domogate server --data /var/lib/domogate --host 0.0.0.0\n\n"
        "At its first start it creates the data folder (database, secret, TLS certificate) "
        "and prints the setup code that authorises the first `domogate deploy`."
    ),
    invoke_without_command=True,
)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("domogate")) / "server"


DataOpt = typer.Option(
    None,
    "--data",
    envvar="DOMOGATE_DATA",
    help="Data folder (database, secret, certificate). Default: the user's data dir.",
    show_default=False,
)


def _data(path: Path | None) -> Path:
    return path or default_data_dir()


@app.callback()
def serve(
    ctx: typer.Context,
    data: Path | None = DataOpt,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (loopback unless told otherwise)."
    ),
    port: int = typer.Option(7550, "--port", min=1, max=65535, help="TCP port."),
    bus: str = typer.Option("simulated", "--bus", help="Field bus: simulated or knx."),
    insecure_http: bool = typer.Option(
        False, "--insecure-http", help="Serve plain HTTP instead of HTTPS (development only)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
) -> None:
    """Run the server (when no subcommand is given)."""
    if ctx.invoked_subcommand is not None:
        return
    from domogate.cli.env import argon2_parameters_from_env
    from domogate.server import run_server
    from domogate.settings import ServerSettings

    with reporting_errors(False):
        if bus not in ("simulated", "knx"):
            raise InvalidInput(f"--bus must be simulated or knx, not {bus!r}.")
        if bus == "knx":
            raise InvalidInput(
                "The KNX bus adapter is not part of this version yet; run with --bus simulated."
            )
        pause = float(os.environ.get("DOMOGATE_FAULT_DEPLOY_PAUSE", "0") or 0)
        settings = ServerSettings(
            data_dir=_data(data),
            host=host,
            port=port,
            insecure_http=insecure_http,
            argon2=argon2_parameters_from_env(),
            deploy_pause_s=pause,
        )
        run_server(settings, log_level=log_level)


@app.command("setup-code")
def setup_code(data: Path | None = DataOpt) -> None:
    """Print the first-deploy setup code alone on stdout (creates the data folder if needed)."""
    from domogate.storage.datadir import DataDir

    with reporting_errors(False):
        d = DataDir(_data(data))
        d.initialise()
        code = d.setup_code()
        if code is None:
            raise InvalidInput(
                "This server already has a project; deploy with its service password instead."
            )
        typer.echo(code)


@app.command("info")
def info(
    data: Path | None = DataOpt,
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Show the server id and the TLS certificate fingerprint of an existing data folder."""
    from domogate.storage.datadir import DataDir

    with reporting_errors(as_json):
        d = DataDir(_data(data))
        if not (d.path / "secret.key").exists():
            raise InvalidInput(
                f"No server data in {d.path}: start `domogate server --data {d.path}` once "
                "first (a mistyped folder would otherwise make a new server identity)."
            )
        result = {"server_id": d.server_id, "fingerprint": d.fingerprint, "data": str(d.path)}
        if as_json:
            print_json(result)
        else:
            typer.echo(f"server id:   {result['server_id']}\nfingerprint: {result['fingerprint']}")


admin_app = typer.Typer(help="Grant or revoke the admin flag of a user, locally.")
app.add_typer(admin_app, name="admin")


def _set_admin(name: str, flag: bool, data: Path | None, as_json: bool) -> None:
    from domogate.services.deploy import set_admin
    from domogate.storage.datadir import DataDir
    from domogate.storage.sql import open_store

    async def run() -> dict[str, object]:
        d = DataDir(_data(data))
        if not d.database_path.exists():
            raise InvalidInput(f"No server data in {d.path}; start the server once first.")
        store = await open_store(d.database_url)
        try:
            before = await store.find_user_by_name(name)
            user = await set_admin(store, name, flag)
        finally:
            await store.close()
        changed = before is not None and before.admin != user.admin
        return {"user": user.name, "id": user.id, "admin": user.admin, "changed": changed}

    with reporting_errors(as_json):
        result = asyncio.run(run())
        if as_json:
            print_json(result)
        else:
            if result["changed"]:
                verb = "is now" if flag else "is no longer"
            else:
                verb = "was already" if flag else "was not"
            typer.echo(f"{result['user']} {verb} an administrator.")


@admin_app.command("grant")
def grant(
    name: str = typer.Argument(..., help="User name."),
    data: Path | None = DataOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Make NAME an administrator."""
    _set_admin(name, True, data, as_json)


@admin_app.command("revoke")
def revoke(
    name: str = typer.Argument(..., help="User name."),
    data: Path | None = DataOpt,
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Remove NAME's administrator flag."""
    _set_admin(name, False, data, as_json)
