"""``domogate connect`` (enrol this CLI's device key) and ``domogate whoami``."""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated, Any

import typer

from domogate.cli.output import print_json
from domogate.cli.params import (
    ConfigOption,
    InsecureHttpOption,
    JsonOption,
    PathOption,
    read_password_line,
)
from domogate.cli.plumbing import (
    _confirm_if_tty,
    _display_name,
    _doc,
    _echo,
    _examples,
    _note,
    _run_signed_in,
    _stdin_is_tty,
    safe_text,
)
from domogate.client.config import ClientConfig, resolve_config_dir
from domogate.client.enrolment import Target, enrol, parse_target
from domogate.client.session import INSECURE_HTTP_WARNING, SignedIn, require_secure_transport
from domogate.errors import DomogateError, InvalidInput

CONNECT_HELP = _doc(
    "Connect this CLI to a server: pin its certificate and enrol a device key.",
    "With a join link, the one-time password and the certificate fingerprint come from the "
    "link. With a server URL, give --otp CODE --name NAME or --username USER, and "
    "--fingerprint (on a terminal you may instead confirm the fingerprint shown). "
    "The configuration is written only once the server has accepted the device.",
)
CONNECT_EPILOG = _examples(
    "domogate connect 'https://maison.local:7550/join#v=1&s=…&fp=…&otp=ACDEF-GHJKL' --name Alice",
    "domogate connect https://maison.local:7550 --otp ACDEF-GHJKL --name Alice --fingerprint 3a7f…",
    'echo "$PASSWORD" | domogate connect https://maison.local:7550 --username alice '
    "--password-stdin",
)


def connect(
    target: Annotated[
        str,
        typer.Argument(
            metavar="TARGET",
            help="A join link (https://HOST:PORT/join#v=1&…) or the server URL.",
            show_default=False,
        ),
    ],
    otp: Annotated[
        str | None,
        typer.Option("--otp", metavar="CODE", help="One-time password (default: the link's)."),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="Your name (with a one-time password)."),
    ] = None,
    username: Annotated[
        str | None,
        typer.Option("--username", metavar="USER", help="Sign in with a username and password."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option("--password-stdin", help="Read the password from the first line of stdin."),
    ] = False,
    device_name: Annotated[
        str | None,
        typer.Option(
            "--device-name",
            metavar="NAME",
            help="Name of this device on the server (default: USER@HOST (cli)).",
        ),
    ] = None,
    fingerprint: Annotated[
        str | None,
        typer.Option(
            "--fingerprint",
            metavar="SHA256",
            help="Expected certificate fingerprint (when TARGET is not a join link).",
        ),
    ] = None,
    insecure_http: InsecureHttpOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Connect this CLI to a server (see CONNECT_HELP)."""
    where: Target = parse_target(target)
    require_secure_transport(where.base_url, insecure_http)
    if where.base_url.lower().startswith("http://"):
        _note(INSECURE_HTTP_WARNING)
    tty = _stdin_is_tty()
    password: str | None = None
    if password_stdin and username is None:
        raise InvalidInput("--password-stdin goes with --username.")
    if username is not None:
        if otp is not None:
            raise InvalidInput("Use either --otp or --username, not both.")
        if password_stdin:
            password = read_password_line(sys.stdin)
        elif tty:
            password = typer.prompt("Password", hide_input=True, err=True)
        else:
            raise InvalidInput("Give the password on standard input with --password-stdin.")
    else:
        if otp is None and where.otp is None and tty:
            otp = typer.prompt("One-time password", err=True)
        if (otp or where.otp) and not (name and name.strip()):
            if tty:
                name = typer.prompt("Your name", err=True)
            else:
                raise InvalidInput(
                    "Signing in with a one-time password needs your name: add --name NAME."
                )
    directory = resolve_config_dir(config)
    previous: ClientConfig | None
    try:
        previous = ClientConfig.load(directory)
    except DomogateError:
        previous = None

    async def run() -> dict[str, Any]:
        signed = await enrol(
            where,
            directory,
            otp=otp,
            name=name,
            username=username,
            password=password,
            device_name=device_name,
            pin_fingerprint=fingerprint,
            confirm_fingerprint=_confirm_if_tty(),
            insecure_http=insecure_http,
        )
        async with signed:
            result = signed.describe()
        result["config"] = str(directory)
        return result

    result = asyncio.run(run())
    if previous is not None:
        _note(
            f"Replaced the previous connection to {previous.server.url} "
            f"(device {previous.device.id}) in {directory}."
        )
    if as_json:
        print_json(result)
        return
    server = result["server"]
    _echo(
        f"Connected to {safe_text(server.get('name') or server['url'])} as "
        f"{_display_name(result['user'])} (device {safe_text(result['device'].get('id'))})."
    )


WHOAMI_HELP = "Sign in with this CLI's device key and show the user, device, server and path."
WHOAMI_EPILOG = _examples("domogate whoami", "domogate whoami --json --config ~/.domogate-admin")


def whoami(
    config: ConfigOption = None, path: PathOption = None, as_json: JsonOption = False
) -> None:
    """Sign in with the device key and show who we are."""

    async def action(session: SignedIn) -> dict[str, Any]:
        return session.describe()

    result = _run_signed_in(config, action, path)
    if as_json:
        print_json(result)
        return
    user = result["user"]
    device = result["device"]
    server = result["server"]
    role = ", admin" if user.get("admin") else ""
    _echo(f"User:   {_display_name(user)} (group {safe_text(user.get('group'))}{role})")
    _echo(f"Device: {_display_name(device)} (id {safe_text(device.get('id'))})")
    _echo(
        f"Server: {safe_text(server.get('name') or '')} {safe_text(server['url'])} "
        f"(id {safe_text(server['server_id'])})".replace("  ", " ")
    )
    _echo(f"Path:   {safe_text(result.get('path'))} (this CLI came {safe_text(result['via'])})")
