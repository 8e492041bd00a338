"""``domogate cloud …``: run a cloud (relay + cloud API) and manage its installations.

``serve`` runs it; ``info`` and ``installations`` work on its data folder locally
(``installations release`` also tells the running cloud, through its operator API on the
address in ``cloud.json`` with the folder's ``operator.token``, so that a live link ends).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from domogate.cli.app import App
from domogate.cli.output import print_json
from domogate.cli.params import JsonOption, iso_utc, read_password_line
from domogate.errors import InvalidInput

T = TypeVar("T")


def _help(*paragraphs: str, examples: tuple[str, ...] = ()) -> str:
    text = "\n\n".join(paragraphs)
    if examples:
        text += "\n\nExamples:\n\n" + "\n".join(f"  {e}" for e in examples)
    return text


app = App(
    help=_help(
        "Run a domogate cloud: one TLS port that relays clients to home servers (TLS end to "
        "end, the cloud never reads it) and serves the cloud's API and the servers' control "
        "links. See docs/cloud.md.",
        "A home server links when its deployed project sets system.cloud (address, "
        "fingerprint, password). On an open cloud the first server presenting an unclaimed "
        "name claims it with its cloud password; with --invite-only only the names you add.",
        examples=(
            "domogate cloud serve --zone cloud.example.org --host 0.0.0.0 --port 443",
            "domogate cloud info --json",
            'echo "$PW" | domogate cloud installations add k3x9qv2mpl4t8n7a --password-stdin',
            "domogate cloud installations release k3x9qv2mpl4t8n7a",
        ),
    ),
    no_args_is_help=True,
)
installations_app = App(
    help=_help(
        "The installation names of this cloud: list them, invite one (with its cloud "
        "password), release one (its server key is forgotten; the name may be claimed "
        "again).",
        examples=(
            "domogate cloud installations list --json",
            "domogate cloud installations add k3x9qv2mpl4t8n7a",
            "domogate cloud installations release k3x9qv2mpl4t8n7a",
        ),
    ),
    no_args_is_help=True,
)
app.add_typer(installations_app, name="installations")

DataOpt = typer.Option(
    None,
    "--data",
    envvar="DOMOGATE_CLOUD_DATA",
    metavar="DIR",
    help="The cloud's data folder (database, certificate, operator token). "
    "Default: $DOMOGATE_CLOUD_DATA, else the user's data dir + domogate/cloud.",
    show_default=False,
)


def _data(path: Path | None) -> Any:
    from domogate.cloud.datadir import CloudDataDir, default_cloud_dir

    return CloudDataDir(path or default_cloud_dir())


def _existing(path: Path | None) -> Any:
    data = _data(path)
    if not data.config_path.exists():
        raise InvalidInput(
            f"{data.path} is not a cloud data folder yet: start the cloud once with "
            f"`domogate cloud serve --data {data.path}`."
        )
    return data


@app.command(
    "serve",
    help=_help(
        "Run the cloud on one TLS port (relay, API, control links) until SIGTERM or Ctrl-C.",
        "At its first start it creates the data folder and a self-signed certificate for "
        "the zone, localhost, 127.0.0.1 and --host (or installs --cert/--key). It prints "
        "the cloud's url, fingerprint and zone (servers pin the fingerprint as "
        "system.cloud.fingerprint), then `ready: {json}` once it accepts connections.",
        "Installations are reached as https://NAME.ZONE[:PORT]: point a wildcard DNS record "
        "*.ZONE (and ZONE) at this machine.",
        "With --acme-directory, linked servers get a certificate browsers trust for their "
        "NAME.ZONE from that ACME directory (TLS-ALPN-01, answered by each server through "
        "this relay: the public port must be 443 for a public CA); pinned clients keep "
        "meeting each server's own certificate.",
        examples=(
            "domogate cloud serve",
            "domogate cloud serve --zone cloud.example.org --host 0.0.0.0 --port 443",
            "domogate cloud serve --zone cloud.example.org --host 0.0.0.0 --port 443 "
            "--acme-directory https://acme-v02.api.letsencrypt.org/directory",
            "domogate cloud serve --invite-only --cert fullchain.pem --key privkey.pem",
        ),
    ),
)
def serve(
    data: Path | None = DataOpt,
    host: str = typer.Option(
        "127.0.0.1", "--host", help="Address to listen on (loopback unless told otherwise)."
    ),
    port: int = typer.Option(7443, "--port", min=1, max=65535, help="TCP port."),
    public_port: int | None = typer.Option(
        None,
        "--public-port",
        min=1,
        max=65535,
        help="The port clients and servers reach (behind a port forward); default --port.",
        show_default=False,
    ),
    zone: str = typer.Option(
        "localhost",
        "--zone",
        help="DNS zone: installations are NAME.ZONE (e.g. cloud.example.org).",
    ),
    invite_only: bool = typer.Option(
        False,
        "--invite-only",
        help="Only names added with `cloud installations add` may be claimed, with that password.",
    ),
    cert: Path | None = typer.Option(
        None, "--cert", metavar="FILE", help="Your certificate (PEM, chain allowed); with --key."
    ),
    key: Path | None = typer.Option(
        None, "--key", metavar="FILE", help="Its unencrypted private key (PEM)."
    ),
    acme_directory: str | None = typer.Option(
        None,
        "--acme-directory",
        metavar="URL",
        help="ACME directory (https://…/directory) linked servers get their NAME.ZONE "
        "certificate from, e.g. Let's Encrypt's; default: none (servers keep their "
        "self-signed certificate).",
        show_default=False,
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning, error."),
) -> None:
    from dataclasses import replace

    from domogate.cli.env import argon2_parameters_from_env
    from domogate.cli.server_cmd import connection_limits
    from domogate.cloud.serve import CloudSettings, cloud_connection_limits, run_cloud

    limits = connection_limits(None, None, None)
    if "per_address" not in os.environ.get("DOMOGATE_CONNECTION_LIMITS", ""):
        limits = replace(limits, per_address=cloud_connection_limits().per_address)
    settings = CloudSettings(
        data_dir=_data(data).path,
        host=host,
        port=port,
        zone=zone,
        public_port=public_port,
        invite_only=invite_only,
        cert=cert,
        key=key,
        argon2=argon2_parameters_from_env(),
        connections=limits,
        acme_directory=_acme_directory(acme_directory),
    )
    run_cloud(settings, log_level=log_level)


def _acme_directory(url: str | None) -> str | None:
    """``--acme-directory``: an https URL (what servers will be told), or None."""
    if url is None or not url.strip():
        return None
    from urllib.parse import urlsplit

    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme != "https" or not parts.hostname or len(text) > 500:
        raise InvalidInput(
            f"--acme-directory must be an https:// URL of an ACME directory (got {text[:100]!r}),"
            " e.g. https://acme-v02.api.letsencrypt.org/directory."
        )
    return text


@app.command(
    "info",
    help=_help(
        "Show the cloud's zone, url, certificate fingerprint and local address "
        "(from its data folder; the cloud need not run).",
        examples=(
            "domogate cloud info",
            "domogate cloud info --data /var/lib/domogate-cloud --json",
        ),
    ),
)
def info(data: Path | None = DataOpt, as_json: JsonOption = False) -> None:
    folder = _existing(data)
    config = folder.config()
    body = {
        "zone": config.zone,
        "url": config.url,
        "fingerprint": folder.fingerprint,
        "address": config.local_address,
        "public_port": config.public_port,
        "data": str(folder.path),
    }
    if as_json:
        print_json(body)
        return
    for key_name, value in body.items():
        typer.echo(f"{key_name}: {value}")


async def _with_installations(data: Any, action: Callable[[Any], Awaitable[T]]) -> T:
    from domogate.cli.env import argon2_parameters_from_env
    from domogate.security.passwords import Passwords
    from domogate.services.clock import SystemClock
    from domogate.services.cloud.audit import CloudAudit
    from domogate.services.cloud.installations import CloudInstallations
    from domogate.services.hashing import PasswordWorker
    from domogate.storage.cloud import open_cloud_store

    store = await open_cloud_store(data.database_url)
    clock = SystemClock()
    audit = CloudAudit(store, clock)
    worker = PasswordWorker(Passwords(argon2_parameters_from_env()), workers=1)
    try:
        return await action(CloudInstallations(store, worker, clock, audit))
    finally:
        await audit.close()
        worker.close()
        await store.close()


def _view(record: Any) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        return None if value is None else iso_utc(value)

    return {
        "name": record.name,
        "claimed": record.claimed,
        "invited": record.invited,
        "public_key": record.public_key,
        "created_at": when(record.created_at),
        "claimed_at": when(record.claimed_at),
        "last_linked_at": when(record.last_linked_at),
        "last_source": record.last_source,
    }


@installations_app.command(
    "list",
    help=_help(
        "The installation names of this cloud: claimed (bound to a server key) or invited "
        "and waiting for their server.",
        examples=("domogate cloud installations list", "domogate cloud installations list --json"),
    ),
)
def list_installations(data: Path | None = DataOpt, as_json: JsonOption = False) -> None:
    folder = _existing(data)

    async def action(installations: Any) -> list[Any]:
        return list(await installations.list())

    rows = [_view(r) for r in asyncio.run(_with_installations(folder, action))]
    if as_json:
        print_json({"installations": rows})
        return
    if not rows:
        typer.echo("no installation yet")
        return
    table = Table(title="Installations", title_justify="left")
    for column in ("Name", "State", "Claimed", "Last linked", "From"):
        table.add_column(column, overflow="fold")
    for row in rows:
        state = "claimed" if row["claimed"] else "invited"
        table.add_row(
            Text(row["name"]),
            Text(state + (" (invited)" if row["claimed"] and row["invited"] else "")),
            Text(row["claimed_at"] or "—"),
            Text(row["last_linked_at"] or "—"),
            Text(row["last_source"] or "—"),
        )
    Console(file=sys.stdout, soft_wrap=True).print(table)


@installations_app.command(
    "add",
    help=_help(
        "Invite an installation: its server may claim NAME with this cloud password (the "
        "one its project has as system.cloud.password). Stored as an Argon2id hash. "
        "Needed on an --invite-only cloud; on an open one it reserves the name.",
        "NAME is the server's cloud name (`domogate server info` shows it).",
        examples=(
            "domogate cloud installations add k3x9qv2mpl4t8n7a",
            'echo "$PW" | domogate cloud installations add k3x9qv2mpl4t8n7a --password-stdin',
        ),
    ),
)
def add(
    name: str = typer.Argument(..., help="The installation's cloud name (one DNS label)."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the cloud password from stdin's first line."
    ),
    data: Path | None = DataOpt,
    as_json: JsonOption = False,
) -> None:
    folder = _existing(data)
    if password_stdin:
        password = read_password_line(sys.stdin)
    elif sys.stdin.isatty():
        password = typer.prompt(
            "Cloud password", hide_input=True, confirmation_prompt=True, err=True
        )
    else:
        raise InvalidInput(
            "stdin is not a terminal: pass --password-stdin and write the password on "
            "stdin's first line."
        )

    async def action(installations: Any) -> Any:
        return await installations.add(name, password)

    record = asyncio.run(_with_installations(folder, action))
    if as_json:
        print_json(_view(record))
    else:
        typer.echo(f"installation {record.name} added: its server may claim it with that password")


def _tell_running_cloud(folder: Any, name: str) -> dict[str, Any] | None:
    """POST the release to the running cloud; None when it does not run."""
    import httpx

    from domogate.errors import error_from_dict

    config = folder.config()
    context = ssl.create_default_context(cadata=folder.certificate_pem().decode("ascii"))
    context.check_hostname = False  # pinned: this exact certificate is the only anchor
    try:
        with httpx.Client(verify=context, timeout=10) as client:
            answer = client.post(
                f"https://{config.local_address}/api/operator/release",
                json={"name": name},
                headers={"Authorization": f"Bearer {folder.operator_token}"},
            )
    except httpx.ConnectError:
        return None
    body = answer.json()
    if answer.status_code != 200:
        raise error_from_dict(body.get("error", {}))
    return dict(body)


@installations_app.command(
    "release",
    help=_help(
        "Release an installation: its server key is forgotten and its live link ends (its "
        "server is told `released`). The name may then be claimed again: an invited name "
        "with its operator password, any other name by the first server that presents it.",
        "Works on the running cloud when it runs (through its operator API on 127.0.0.1), "
        "else on its database directly.",
        examples=("domogate cloud installations release k3x9qv2mpl4t8n7a",),
    ),
)
def release(
    name: str = typer.Argument(..., help="The installation's cloud name."),
    data: Path | None = DataOpt,
    as_json: JsonOption = False,
) -> None:
    folder = _existing(data)
    answer = _tell_running_cloud(folder, name)
    if answer is None:

        async def action(installations: Any) -> None:
            await installations.release(name)

        asyncio.run(_with_installations(folder, action))
        answer = {"name": name.strip().lower(), "was_linked": False, "cloud_running": False}
    else:
        answer["cloud_running"] = True
    if as_json:
        print_json(answer)
        return
    typer.echo(
        f"installation {answer['name']} released"
        + ("; its link was ended" if answer["was_linked"] else "")
        + ("" if answer["cloud_running"] else " (the cloud is not running)")
    )


# `domogate cloud publish` and `domogate cloud versions`: the integrator's side.
from domogate.cli import publish_cmd  # noqa: E402

publish_cmd.register(app)
