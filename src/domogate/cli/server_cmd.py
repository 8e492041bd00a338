"""`domogate server …`: run the server and its local maintenance commands."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import platformdirs
import typer

from domogate.cli.app import App
from domogate.cli.output import print_json
from domogate.errors import InvalidInput

if TYPE_CHECKING:
    from domogate.settings import ConnectionLimits, KnxSettings

app = App(
    help=(
        "Run the server, or maintain its data folder locally.\n\n"
        "Without a subcommand it runs the server:\n\n"
        "  domogate server --data /var/lib/domogate --host 0.0.0.0\n\n"
        "With --host 0.0.0.0 join links carry an address phones on the network can reach "
        "(the project's server.address, else this machine's LAN address, or --advertise).\n\n"
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
        "127.0.0.1",
        "--host",
        help="Address to listen on (loopback unless told otherwise; 0.0.0.0: every address, "
        "for phones on the network).",
    ),
    advertise: str | None = typer.Option(
        None,
        "--advertise",
        metavar="ADDRESS",
        help="Address join links, QR codes and paths.local carry (default: the --host "
        "address; with --host 0.0.0.0 the project's server.address, else this machine's "
        "LAN address).",
        show_default=False,
    ),
    port: int = typer.Option(7550, "--port", min=1, max=65535, help="TCP port."),
    bus: str = typer.Option(
        "simulated",
        "--bus",
        help="Field bus: simulated (a simulated building, the default) or knx (see --knx-*).",
    ),
    knx_gateway: str | None = typer.Option(
        None,
        "--knx-gateway",
        envvar="DOMOGATE_KNX_GATEWAY",
        help="KNX/IP gateway or router as HOST or HOST:PORT (default port 3671).",
    ),
    knx_connection: str = typer.Option(
        "tunneling",
        "--knx-connection",
        envvar="DOMOGATE_KNX_CONNECTION",
        help="tunneling (UDP), tunneling_tcp, routing (multicast) or automatic (discovery); "
        "with --knx-keyring, tunneling_tcp and routing are KNX IP Secure "
        "(or say tunneling_tcp_secure / routing_secure).",
    ),
    knx_local_ip: str | None = typer.Option(
        None, "--knx-local-ip", envvar="DOMOGATE_KNX_LOCAL_IP", help="Local address to use."
    ),
    knx_individual_address: str | None = typer.Option(
        None,
        "--knx-individual-address",
        envvar="DOMOGATE_KNX_INDIVIDUAL_ADDRESS",
        help="The server's individual address, e.g. 1.1.250 (routing, or a tunnel to pick).",
    ),
    knx_keyring: Path | None = typer.Option(
        None,
        "--knx-keyring",
        envvar="DOMOGATE_KNX_KEYRING",
        help="ETS keyring (.knxkeys) for KNX IP Secure; its password comes from "
        "$DOMOGATE_KNX_KEYRING_PASSWORD.",
    ),
    simulation_speed: float = typer.Option(
        1.0,
        "--simulation-speed",
        min=0.01,
        max=1000,
        help="Simulated building only: how much faster than real time it moves.",
    ),
    insecure_http: bool = typer.Option(
        False, "--insecure-http", help="Serve plain HTTP instead of HTTPS (development only)."
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
    head_timeout: float | None = typer.Option(
        None,
        "--head-timeout",
        min=0.1,
        max=600,
        help="Seconds a connection has for its TLS handshake and request head (default 10).",
        show_default=False,
    ),
    max_connections: int | None = typer.Option(
        None,
        "--max-connections",
        min=1,
        help="Connections in total (default 12000, lowered to fit the open-file limit).",
        show_default=False,
    ),
    max_connections_per_address: int | None = typer.Option(
        None,
        "--max-connections-per-address",
        min=1,
        help="Connections per client address, IPv6 per /64 (default 256).",
        show_default=False,
    ),
    acme_ca_bundle: Path | None = typer.Option(
        None,
        "--acme-ca-bundle",
        metavar="FILE",
        exists=True,
        dir_okay=False,
        readable=True,
        help="PEM file of CAs to trust for the ACME directory's own HTTPS (the one the "
        "cloud names; a test CA such as pebble's); default: the system's CA store.",
        show_default=False,
    ),
) -> None:
    """Run the server (when no subcommand is given).

    KNX example: domogate server --bus knx --knx-gateway 192.168.1.20 --data DIR
    """
    if ctx.invoked_subcommand is not None:
        return
    from domogate.cli.env import argon2_parameters_from_env
    from domogate.core.lanaddress import check_advertise
    from domogate.server import run_server
    from domogate.settings import BusSettings, ServerSettings

    if bus not in ("simulated", "knx"):
        raise InvalidInput(f"--bus must be simulated or knx, not {bus!r}.")
    bus_settings = BusSettings(
        adapter=bus,
        knx=knx_settings(
            knx_connection,
            knx_gateway,
            knx_local_ip,
            knx_individual_address,
            knx_keyring,
            required=bus == "knx",
        ),
        simulation_speed=simulation_speed,
    )
    pause = float(os.environ.get("DOMOGATE_FAULT_DEPLOY_PAUSE", "0") or 0)
    settings = ServerSettings(
        data_dir=_data(data),
        host=host,
        port=port,
        insecure_http=insecure_http,
        argon2=argon2_parameters_from_env(),
        deploy_pause_s=pause,
        bus=bus_settings,
        connections=connection_limits(head_timeout, max_connections, max_connections_per_address),
        acme_ca_bundle=acme_ca_bundle.resolve() if acme_ca_bundle else None,
        advertise=None if advertise is None else check_advertise(advertise),
    )
    run_server(settings, log_level=log_level)


def connection_limits(
    head_timeout: float | None, total: int | None, per_address: int | None
) -> ConnectionLimits:
    """The connection caps: defaults, then ``$DOMOGATE_CONNECTION_LIMITS`` (``name=value``
    pairs separated by commas, any field of ``ConnectionLimits``; for tests and tuning),
    then the flags."""
    from dataclasses import fields, replace

    from domogate.settings import ConnectionLimits

    limits = ConnectionLimits()
    kinds = {f.name: type(getattr(limits, f.name)) for f in fields(limits)}
    changes: dict[str, float | int] = {}
    for item in os.environ.get("DOMOGATE_CONNECTION_LIMITS", "").split(","):
        if not item.strip():
            continue
        name, _, text = item.partition("=")
        name = name.strip()
        if name not in kinds:
            raise InvalidInput(
                f"$DOMOGATE_CONNECTION_LIMITS: unknown limit {name!r}; known: {', '.join(kinds)}."
            )
        try:
            value = kinds[name](text.strip())
        except ValueError as exc:
            raise InvalidInput(f"$DOMOGATE_CONNECTION_LIMITS: bad value in {item!r}.") from exc
        if value <= 0 and name != "evict_idle_after_s" and name != "refusals":
            raise InvalidInput(f"$DOMOGATE_CONNECTION_LIMITS: {name} must be positive.")
        changes[name] = value
    if head_timeout is not None:
        changes["head_timeout_s"] = head_timeout
    if total is not None:
        changes["total"] = total
    if per_address is not None:
        changes["per_address"] = per_address
    return replace(limits, **changes)  # type: ignore[arg-type]


KNX_CONNECTIONS = (
    "tunneling",
    "tunneling_tcp",
    "tunneling_tcp_secure",
    "routing",
    "routing_secure",
    "automatic",
)


def knx_settings(
    connection: str,
    gateway: str | None,
    local_ip: str | None,
    individual_address: str | None,
    keyring: Path | None,
    required: bool = True,
) -> KnxSettings:
    """The KNX options, checked (the server refuses to start with a clear message)."""
    from domogate.settings import KnxSettings

    if connection not in KNX_CONNECTIONS:
        raise InvalidInput(
            f"--knx-connection must be one of {', '.join(KNX_CONNECTIONS)}, not {connection!r}."
        )
    host, port = gateway, 3671
    if gateway and gateway.count(":") == 1:  # HOST:PORT (an IPv6 address has more colons)
        host, _, port_text = gateway.partition(":")
        if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise InvalidInput(f"--knx-gateway: bad port in {gateway!r}; use HOST or HOST:PORT.")
        port = int(port_text)
    if required and connection.startswith("tunneling") and not host:
        raise InvalidInput(
            f"--bus knx with --knx-connection {connection} needs --knx-gateway HOST[:PORT] "
            "(or --knx-connection routing / automatic)."
        )
    password = os.environ.get("DOMOGATE_KNX_KEYRING_PASSWORD")
    if keyring is not None:
        if not keyring.is_file():
            raise InvalidInput(f"--knx-keyring: no such file {str(keyring)!r}.")
        if not password:
            raise InvalidInput(
                "--knx-keyring needs the keyring's password in $DOMOGATE_KNX_KEYRING_PASSWORD."
            )
    return KnxSettings(
        connection=connection,
        gateway_host=host,
        gateway_port=port,
        local_ip=local_ip,
        individual_address=individual_address,
        keyring=keyring,
        keyring_password=password if keyring is not None else None,
    )


@app.command("setup-code")
def setup_code(data: Path | None = DataOpt) -> None:
    """Print the first-deploy setup code alone on stdout (creates the data folder if needed)."""
    from domogate.storage.datadir import DataDir

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
    """Show the server id, the TLS certificate fingerprint and the pinned publisher key's
    fingerprint (the integrator key that signs versions published through the cloud) of an
    existing data folder."""
    from domogate.storage.datadir import DataDir

    d = DataDir(_data(data))
    if not (d.path / "secret.key").exists():
        raise InvalidInput(
            f"No server data in {d.path}: start `domogate server --data {d.path}` once "
            "first (a mistyped folder would otherwise make a new server identity)."
        )
    result = {
        "server_id": d.server_id,
        "fingerprint": d.fingerprint,
        "data": str(d.path),
        "publisher_key_fingerprint": _publisher_key_fingerprint(d),
    }
    if as_json:
        print_json(result)
    else:
        typer.echo(
            f"server id:     {result['server_id']}\nfingerprint:   {result['fingerprint']}\n"
            f"publisher key: {result['publisher_key_fingerprint'] or 'none pinned (deploy once)'}"
        )


def _publisher_key_fingerprint(d: Any) -> str | None:
    """The pinned publisher key's fingerprint (``docs/cloud-publish.md``), or None."""
    from domogate.core.publishing import key_fingerprint_of_text
    from domogate.services.deploy import PUBLISHER_KEY
    from domogate.storage.sql import open_store

    if not d.database_path.exists():
        return None

    async def run() -> str | None:
        store = await open_store(d.database_url)
        try:
            return await store.get_meta(PUBLISHER_KEY)
        finally:
            await store.close()

    key = asyncio.run(run())
    return key_fingerprint_of_text(key) if key else None


@app.command("cloud-name")
def cloud_name(
    data: Path | None = DataOpt,
    as_json: bool = typer.Option(False, "--json", help="Print {name, server_id} as JSON."),
) -> None:
    """Print this server's installation name at a cloud.

    The name is derived from the server's cloud link key (cloud.key in the data folder,
    made here if missing), so it never changes for a data folder and no other server can
    claim it. The cloud's operator adds it with `domogate cloud installations add NAME`
    when the cloud is invite-only; clients reach the server at https://NAME.<zone>/
    through the relay.
    """
    from domogate.core.cloudwire import cloud_name as name_of
    from domogate.storage.datadir import DataDir

    d = DataDir(_data(data))
    if not d.server_file_path.exists():
        raise InvalidInput(
            f"No server data in {d.path}: start `domogate server --data {d.path}` once "
            "first (a mistyped folder would otherwise make a new server identity)."
        )
    result = {"name": name_of(d.cloud_key().public_key()), "server_id": d.server_id}
    if as_json:
        print_json(result)
    else:
        typer.echo(result["name"])


admin_app = App(help="Grant or revoke the admin flag of a user, locally.")
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
