"""Client commands: ``connect``, ``whoami``, ``clients …``, ``audit``, ``deploy``.

They act on a server as this CLI's enrolled device (key and server pin in the config
folder, ``--config DIR`` / ``$DOMOGATE_CONFIG``). The helpers at the top (durations, dates,
user resolution, QR codes) are pure and tested on their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import io
import json
import os
import re
import sys
import unicodedata
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import segno
import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from domogate.cli.app import App, add_command
from domogate.cli.output import print_json, terminal_text
from domogate.client.api import ServerApi, normalise_base_url
from domogate.client.config import ClientConfig, resolve_config_dir
from domogate.client.session import (
    INSECURE_HTTP_WARNING,
    SERVER_DATA_ERRORS,
    SignedIn,
    Target,
    enrol,
    parse_target,
    pin_server,
    require_secure_transport,
    sign_in,
    unexpected_answer,
)
from domogate.core import otp as otp_rules
from domogate.errors import ClientError, DomogateError, InvalidInput, NotEnrolled, NotFound
from domogate.files import write_atomic

T = TypeVar("T")

# --- pure helpers ---------------------------------------------------------------------------

_DURATION = re.compile(r"(?:(\d{1,9})d)?(?:(\d{1,9})h)?(?:(\d{1,9})m)?(?:(\d{1,9})s)?")
_UNITS = (86400, 3600, 60, 1)


def parse_duration(text: str) -> int:
    """``2h``, ``30m``, ``90s``, ``1d``, ``1h30m`` → seconds (positive)."""
    compact = text.strip().lower().replace(" ", "")
    match = _DURATION.fullmatch(compact)
    if not compact or match is None or not any(match.groups()):
        raise InvalidInput(
            f"Not a duration: {text!r}. Use a number with a unit: 90s, 30m, 2h, 1d, 1h30m."
        )
    seconds = sum(int(g) * unit for g, unit in zip(match.groups(), _UNITS, strict=True) if g)
    if seconds <= 0:
        raise InvalidInput(f"The duration {text!r} must be longer than zero.")
    return seconds


def parse_when(text: str, now: datetime) -> datetime:
    """An ISO date or date-time (UTC when naive), or a duration from ``now``; in the future."""
    try:
        seconds: int | None = parse_duration(text)
    except InvalidInput:
        seconds = None
    try:
        if seconds is not None:
            when = now + timedelta(seconds=seconds)
        else:
            parsed = datetime.fromisoformat(text.strip())
            when = parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError) as exc:
        raise InvalidInput(
            f"Not a date, date-time or duration: {text!r}. Use e.g. 2026-12-31, "
            "2026-12-31T18:00, 2026-12-31T18:00+01:00 or a duration like 7d."
        ) from exc
    if when <= now:
        raise InvalidInput(f"{text!r} is in the past.")
    return when


def iso_utc(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


safe_text = terminal_text  # untrusted text for a terminal: no control characters


def dict_list(value: object, what: str) -> list[dict[str, Any]]:
    """A list of JSON objects from the server (``None`` is an empty list); anything else
    is the "unexpected answer" error, never a traceback."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DomogateError(
            f"The server sent an unexpected answer: {what} is not a list of objects."
        )
    return value


@contextlib.contextmanager
def server_data(where: str = "the server") -> Iterator[None]:
    """Turn the errors that malformed server data raises into a ``DomogateError``."""
    try:
        yield
    except SERVER_DATA_ERRORS as exc:
        raise unexpected_answer(where, exc) from exc


def _client_summary(client: Mapping[str, Any]) -> str:
    label = safe_text(client.get("label") or client.get("name") or "?")
    return (
        f"{label} (id {safe_text(client.get('id'))}, group {safe_text(client.get('group'))}, "
        f"{safe_text(client.get('status'))})"
    )


def _candidates(clients: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: c.get(k) for k in ("id", "label", "name", "group", "status")} for c in clients]


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _name_or_label_matches(
    clients: Sequence[Mapping[str, Any]], wanted: str, *, fold: Callable[[str], str]
) -> list[Mapping[str, Any]]:
    folded = fold(wanted)
    canonical = otp_rules.normalise(wanted)
    matches = []
    for client in clients:
        name = client.get("name")
        label = client.get("label")
        if (name is not None and fold(str(name)) == folded) or (
            label is not None
            and (
                fold(str(label)) == folded
                or (canonical and otp_rules.normalise(str(label)) == canonical)
            )
        ):
            matches.append(client)
    return matches


def resolve_user(clients: Sequence[Mapping[str, Any]], query: str) -> Mapping[str, Any]:
    """The client that ``query`` names: its id, its name (case-insensitive) or its label
    (a pending OTP may be typed with any case and with or without dashes). Names match
    without regard to accents when nothing matches exactly (``zoe`` finds ``Zoé``).

    When several match and exactly one of them is not revoked, that one wins; otherwise
    ``InvalidInput`` lists the candidates. ``NotFound`` when nothing matches.
    """
    wanted = query.strip()
    if not wanted:
        raise InvalidInput("Which user? Give a user id, a name or a label.")
    for client in clients:
        if str(client.get("id")) == wanted:
            return client
    matches = _name_or_label_matches(clients, wanted, fold=str.casefold)
    if not matches:  # "zoe" finds "Zoé"
        matches = _name_or_label_matches(clients, wanted, fold=_fold_accents)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(_client_summary(c) for c in clients[:20]) or "none"
        more = f" and {len(clients) - 20} more" if len(clients) > 20 else ""
        raise NotFound(
            f"No user matches {safe_text(wanted)!r}. Users: {known}{more}.",
            candidates=_candidates(clients[:20]),
        )
    live = [c for c in matches if str(c.get("status", "")).lower() != "revoked"]
    if len(live) == 1:
        return live[0]
    raise InvalidInput(
        f"{safe_text(wanted)!r} matches several users: "
        + "; ".join(_client_summary(c) for c in matches)
        + ". Give the id.",
        candidates=_candidates(matches),
    )


def resolve_device(client: Mapping[str, Any], query: str) -> Mapping[str, Any]:
    """One of ``client``'s devices by id, name (case-insensitive) or unique id prefix."""
    devices: list[dict[str, Any]] = dict_list(client.get("devices"), "devices")
    wanted = query.strip()
    for device in devices:
        if str(device.get("id")) == wanted:
            return device
    folded = wanted.casefold()
    matches = [d for d in devices if str(d.get("name") or "").casefold() == folded]
    if not matches and len(wanted) >= 4:
        matches = [d for d in devices if str(d.get("id", "")).startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    listing = (
        "; ".join(
            f"{safe_text(d.get('name'))} (id {safe_text(d.get('id'))}"
            + (", revoked" if d.get("revoked") else "")
            + ")"
            for d in (matches or devices)
        )
        or "none"
    )
    who = safe_text(client.get("label") or client.get("name"))
    if matches:
        raise InvalidInput(
            f"{safe_text(wanted)!r} matches several devices of {who}: {listing}. Give the id."
        )
    raise NotFound(f"{who} has no device {safe_text(wanted)!r}. Devices: {listing}.")


def make_qr(link: str) -> Any:
    """The QR code of a join link (error correction M; never a Micro QR)."""
    return segno.make(link, error="m", micro=False)


def check_writable(*paths: Path | None) -> None:
    """Refuse output files that cannot be written, before asking the server for anything."""
    for path in paths:
        if path is None:
            continue
        folder = path.parent if str(path.parent) else Path(".")
        if path.is_dir():
            raise InvalidInput(f"{path} is a folder; give a file name for the QR code.")
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise InvalidInput(f"Cannot write the QR code to {path}: no writable folder {folder}.")


def write_qr_files(link: str, *, png: Path | None = None, svg: Path | None = None) -> None:
    """Write the join link's QR code as PNG (scale 8, border 4) and/or SVG."""
    qr = make_qr(link)
    for path, kind in ((png, "png"), (svg, "svg")):
        if path is None:
            continue
        buffer = io.BytesIO()
        qr.save(buffer, kind=kind, scale=8, border=4)
        try:
            # The QR code carries the OTP: readable by its owner only, from the first byte
            # (a new file replaces an existing one or a symbolic link, never written through).
            write_atomic(path, buffer.getvalue(), 0o600)
        except OSError as exc:
            reason = exc.strerror or exc
            raise ClientError(f"Cannot write the QR code to {path}: {reason}.") from exc


def read_password_line(stream: IO[str]) -> str:
    """The first line of ``stream`` without its line ending."""
    line = stream.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidInput("No password on standard input (expected it on the first line).")
    return password


def format_time(value: object) -> str:
    """An ISO timestamp from the server as local ``YYYY-MM-DD HH:MM``; '' for none."""
    if value is None or value == "":
        return ""
    try:
        when = datetime.fromisoformat(str(value))
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return when.astimezone().strftime("%Y-%m-%d %H:%M %Z").strip()
    except (ValueError, OverflowError, OSError):
        return safe_text(value)


def format_seconds(seconds: float) -> str:
    """``5400`` → ``1 h 30 min``."""
    seconds = max(0, int(seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if days:
        parts.append(f"{days} d")
    if hours:
        parts.append(f"{hours} h")
    if minutes and not days:
        parts.append(f"{minutes} min")
    if not parts:
        parts.append(f"{secs} s")
    return " ".join(parts)


def _display_name(entity: Mapping[str, Any]) -> str:
    return safe_text(entity.get("name") or entity.get("label") or entity.get("id") or "?")


# --- plumbing ---------------------------------------------------------------------------------

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        envvar="DOMOGATE_CONFIG",
        metavar="DIR",
        show_default=False,
        help="Client config folder (device key, pinned server certificate). "
        "Default: the user config folder.",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")]
InsecureHttpOption = Annotated[
    bool,
    typer.Option(
        "--insecure-http",
        help="Accept a plain http:// server (development only: one-time passwords, "
        "passwords and setup codes cross the network unencrypted).",
    ),
]
QrPngOption = Annotated[
    Path | None,
    typer.Option("--qr-png", metavar="FILE", help="Also write the QR code as a PNG file."),
]
QrSvgOption = Annotated[
    Path | None,
    typer.Option("--qr-svg", metavar="FILE", help="Also write the QR code as an SVG file."),
]
ValidForOption = Annotated[
    str | None,
    typer.Option(
        "--valid-for",
        metavar="DURATION",
        show_default=False,
        help="How long the OTP stays valid: 90s, 30m, 2h, 1d, 1h30m (server default: 2h).",
    ),
]


def _stdout() -> Console:
    return Console(highlight=False, soft_wrap=True)


def _echo(text: str) -> None:
    sys.stdout.write(text + "\n")


def _note(text: str) -> None:
    sys.stderr.write(text + "\n")


def _stdin_is_tty() -> bool:
    try:
        return sys.stdin.isatty()
    except (AttributeError, ValueError):
        return False


def _confirm_fingerprint(url: str, fp_colons: str) -> bool:
    _note(
        f"The server at {url} presents a certificate with SHA-256 fingerprint\n"
        f"  {fp_colons}\n"
        "Compare it with the fingerprint the server printed when it started."
    )
    return bool(typer.confirm("Is it the same?", default=False, err=True))


def _confirm_if_tty() -> Callable[[str, str], bool] | None:
    return _confirm_fingerprint if _stdin_is_tty() else None


def _load_config(config_dir: Path | None) -> ClientConfig:
    return ClientConfig.load(resolve_config_dir(config_dir))


def _run_signed_in(config_dir: Path | None, action: Callable[[SignedIn], Awaitable[T]]) -> T:
    config = _load_config(config_dir)
    if config.server.insecure_http and config.server.url.lower().startswith("http://"):
        _note(INSECURE_HTTP_WARNING)

    async def run() -> T:
        async with await sign_in(config) as session:
            with server_data(session.api.base_url):
                return await action(session)

    return asyncio.run(run())


async def _find_user(session: SignedIn, query: str) -> Mapping[str, Any]:
    listing = await session.api.list_clients()
    return resolve_user(dict_list(listing.get("clients"), "clients"), query)


def _print_issued(
    issued: Mapping[str, Any],
    *,
    heading: str,
    as_json: bool,
    qr_png: Path | None,
    qr_svg: Path | None,
) -> None:
    raw_link = issued.get("join_link")
    link = raw_link if isinstance(raw_link, str) else ""
    if (qr_png or qr_svg) and not link:
        raise DomogateError("The server sent no join link; cannot write a QR code.")
    if link:
        write_qr_files(link, png=qr_png, svg=qr_svg)
    if as_json:
        print_json(issued)
        return
    expires = issued.get("otp_expires_at")
    remaining = ""
    if expires:
        try:
            end = datetime.fromisoformat(str(expires))
            if end.tzinfo is None:
                end = end.replace(tzinfo=UTC)
            left = (end - datetime.now(UTC)).total_seconds()
            remaining = f" (in {format_seconds(left)})" if left > 0 else ""
        except (ValueError, OverflowError):
            remaining = ""
    _echo(heading)
    _echo(f"One-time password: {safe_text(issued.get('otp'))}")
    _echo(f"Valid until:       {format_time(expires)}{remaining}")
    if link:
        _echo(f"Join link:         {safe_text(link)}")
        _echo("")
        make_qr(link).terminal(out=sys.stdout, compact=True)
    for path in (qr_png, qr_svg):
        if path is not None:
            _echo(f"QR code written to {path}")


# --- commands ---------------------------------------------------------------------------------


def _doc(*paragraphs: str) -> str:
    """Help text for rich ``--help``: paragraphs separated by blank lines."""
    return "\n\n".join(paragraphs)


def _examples(*lines: str) -> str:
    return _doc("[bold]Examples[/bold]", *(f"  {line}" for line in lines))


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


def whoami(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """Sign in with the device key and show who we are."""

    async def action(session: SignedIn) -> dict[str, Any]:
        return session.describe()

    result = _run_signed_in(config, action)
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
    _echo(f"Path:   {safe_text(result.get('path'))}")


clients_app = App(
    help="Manage who may connect (admins): list, add with an OTP, new OTP, revoke.",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


def _devices_cell(client: Mapping[str, Any]) -> Text:
    text = Text()
    devices = dict_list(client.get("devices"), "devices")
    for i, device in enumerate(devices):
        if i:
            text.append("\n")
        text.append(safe_text(device.get("name") or device.get("id")))
        if device.get("revoked"):
            text.append(" (revoked)", style="red")
        elif device.get("online"):
            text.append(" (online)", style="green")
    return text


@clients_app.command(
    "list",
    help="List users and pending slots: label, group, status, devices, last seen, path.",
    epilog=_examples("domogate clients list", "domogate clients list --json"),
)
def clients_list(config: ConfigOption = None, as_json: JsonOption = False) -> None:
    """List users and pending slots."""

    async def action(session: SignedIn) -> dict[str, Any]:
        return await session.api.list_clients()

    listing = _run_signed_in(config, action)
    if as_json:
        print_json(listing)
        return
    table = Table(title="Clients", title_justify="left")
    for column in ("label", "group", "status", "devices", "last seen", "path"):
        table.add_column(column[0].upper() + column[1:], overflow="fold")
    for client in dict_list(listing.get("clients"), "clients"):
        group = safe_text(client.get("group"))
        if client.get("admin"):
            group += " (admin)"
        table.add_row(
            Text(safe_text(client.get("label"))),
            Text(group),
            Text(safe_text(client.get("status"))),
            _devices_cell(client),
            Text(format_time(client.get("last_seen"))),
            Text(safe_text(client.get("path"))),
        )
    _stdout().print(table)


ADD_HELP = _doc(
    "Add a user slot and print its one-time password, its expiry, the join link and the "
    "QR code to hand over.",
    "The person scans the QR code or opens the join link, or types the OTP in the client. "
    "The slot is listed under its OTP until they connect.",
)
ADD_EPILOG = _examples(
    "domogate clients add --group family --valid-for 2h --qr-png alice.png",
    "domogate clients add --name Guest --group guests --account-expires 7d --path local",
    "domogate clients add --group family --admin --path local --path cloud --json",
)


@clients_app.command("add", help=ADD_HELP, epilog=ADD_EPILOG)
def clients_add(
    name: Annotated[
        str | None, typer.Option("--name", help="The person's name (else they choose it).")
    ] = None,
    group: Annotated[
        str | None, typer.Option("--group", help="Group from the project (server default).")
    ] = None,
    admin: Annotated[bool, typer.Option("--admin", help="Make the user an administrator.")] = False,
    valid_for: ValidForOption = None,
    account_expires: Annotated[
        str | None,
        typer.Option(
            "--account-expires",
            metavar="WHEN",
            help="Guest access until WHEN: an ISO date/date-time (UTC if no zone; a date "
            "means 00:00 UTC) or a duration from now (7d).",
        ),
    ] = None,
    paths: Annotated[
        list[str] | None,
        typer.Option("--path", metavar="PATH", help="Allowed path: local or cloud (repeat)."),
    ] = None,
    qr_png: QrPngOption = None,
    qr_svg: QrSvgOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Add a user slot (see ADD_HELP)."""
    fields: dict[str, Any] = {}
    if name is not None:
        fields["name"] = name
    if group is not None:
        fields["group"] = group
    if admin:
        fields["admin"] = True
    if valid_for is not None:
        fields["valid_for_s"] = parse_duration(valid_for)
    if account_expires is not None:
        fields["account_expires_at"] = iso_utc(parse_when(account_expires, datetime.now(UTC)))
    if paths:
        fields["paths"] = list(dict.fromkeys(p.strip().lower() for p in paths))

    check_writable(qr_png, qr_svg)

    async def action(session: SignedIn) -> dict[str, Any]:
        return await session.api.add_client(**fields)

    issued = _run_signed_in(config, action)
    client = issued.get("client")
    if not isinstance(client, dict):
        client = {}
    _print_issued(
        issued,
        heading=(
            "Added a user slot"
            + (f" for {safe_text(client['name'])}" if client.get("name") else "")
            + f" in group {safe_text(client.get('group'))}."
        ),
        as_json=as_json,
        qr_png=qr_png,
        qr_svg=qr_svg,
    )


@clients_app.command(
    "otp",
    help=_doc(
        "Issue a new one-time password for an existing user: their next device.",
        "It replaces the user's previous pending OTP. USER is an id, a name or a label.",
    ),
    epilog=_examples(
        "domogate clients otp alice --valid-for 30m --qr-png alice.png",
        "domogate clients otp ACDEF-GHJKL --json",
    ),
)
def clients_otp(
    user: Annotated[
        str, typer.Argument(metavar="USER", help="User id, name or label.", show_default=False)
    ],
    valid_for: ValidForOption = None,
    qr_png: QrPngOption = None,
    qr_svg: QrSvgOption = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a new OTP for an existing user."""
    valid_for_s = None if valid_for is None else parse_duration(valid_for)
    check_writable(qr_png, qr_svg)

    async def action(session: SignedIn) -> tuple[Mapping[str, Any], dict[str, Any]]:
        target = await _find_user(session, user)
        return target, await session.api.issue_otp(str(target["id"]), valid_for_s)

    target, issued = _run_signed_in(config, action)
    _print_issued(
        issued,
        heading=f"New one-time password for {_display_name(target)}.",
        as_json=as_json,
        qr_png=qr_png,
        qr_svg=qr_svg,
    )


@clients_app.command(
    "revoke",
    help=_doc(
        "Revoke a user and all their devices, or one device with --device.",
        "Open sessions of the revoked devices are closed at once. USER is an id, a name or "
        "a label; --device takes a device id, a unique id prefix or a device name.",
    ),
    epilog=_examples(
        "domogate clients revoke alice",
        "domogate clients revoke ACDEF-GHJKL --json",
        'domogate clients revoke alice --device "alice\'s phone"',
    ),
)
def clients_revoke(
    user: Annotated[
        str, typer.Argument(metavar="USER", help="User id, name or label.", show_default=False)
    ],
    device: Annotated[
        str | None,
        typer.Option("--device", metavar="ID", help="Revoke only this device (id or name)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a user or one of their devices."""

    async def action(
        session: SignedIn,
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, dict[str, Any]]:
        target = await _find_user(session, user)
        if device is None:
            return target, None, await session.api.revoke_user(str(target["id"]))
        dev = resolve_device(target, device)
        answer = await session.api.revoke_device(str(target["id"]), str(dev["id"]))
        return target, dev, answer

    target, dev, answer = _run_signed_in(config, action)
    if as_json:
        print_json(answer)
        return
    if dev is None and target.get("status") == "Revoked":
        _echo(f"{_display_name(target)} was already revoked.")
    elif dev is None:
        live = [d for d in dict_list(target.get("devices"), "devices") if not d.get("revoked")]
        _echo(f"Revoked {_display_name(target)} and their {len(live)} device(s).")
    else:
        _echo(
            f"Revoked device {_display_name(dev)} (id {safe_text(dev.get('id'))}) "
            f"of {_display_name(target)}."
        )


AUDIT_HELP = _doc(
    "Show the audit log (admins): who did what, when, from where, through which path; "
    "oldest first.",
    "With --json, print JSON lines, one event per line, oldest first. Without --limit or "
    "--user this is the complete export.",
)
AUDIT_EPILOG = _examples(
    "domogate audit --limit 20",
    "domogate audit --user alice",
    "domogate audit --json > audit.jsonl",
)


def audit(
    limit: Annotated[
        int | None,
        typer.Option(
            "--limit", min=1, metavar="N", help="At most N events (the newest; default 200)."
        ),
    ] = None,
    user: Annotated[
        str | None,
        typer.Option("--user", metavar="USER", help="Only events about this user (id/name/label)."),
    ] = None,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show or export the audit log."""
    if as_json and limit is None and user is None:

        async def export(session: SignedIn) -> list[dict[str, Any]]:
            return await session.api.audit_events()

        # Each line re-encoded: no raw control character from the server reaches stdout.
        for event in _run_signed_in(config, export):
            sys.stdout.write(json.dumps(event, default=str) + "\n")
        return

    async def action(session: SignedIn) -> list[dict[str, Any]]:
        user_id: str | None = None
        if user is not None:
            try:
                user_id = str((await _find_user(session, user))["id"])
            except NotFound:
                user_id = user.strip()  # a removed user: try it as an id
        answer = await session.api.audit(limit if limit is not None else 200, user_id)
        return list(reversed(dict_list(answer.get("events"), "events")))

    events = _run_signed_in(config, action)
    if as_json:
        for event in events:
            sys.stdout.write(json.dumps(event, default=str) + "\n")
        return
    table = Table(title="Audit log", title_justify="left")
    for column in ("At", "Action", "Outcome", "Actor", "Target", "Source", "Path"):
        table.add_column(column, overflow="fold")
    for event in events:
        table.add_row(
            Text(format_time(event.get("at"))),
            Text(safe_text(event.get("action"))),
            Text(safe_text(event.get("outcome"))),
            Text(safe_text(event.get("actor_name") or event.get("actor_user_id"))),
            Text(safe_text(event.get("target_name") or event.get("target"))),
            Text(safe_text(event.get("source"))),
            Text(safe_text(event.get("path"))),
        )
    _stdout().print(table)


DEPLOY_HELP = _doc(
    "Validate a project folder and deploy it to a server (all or nothing).",
    "The first deploy to a fresh server needs the setup code the server printed at its "
    "first start; later deploys need the project's service password. The certificate is "
    "checked against --fingerprint, else against this CLI's pin when it is connected to "
    "the same server, else (on a terminal) you are asked to confirm it.",
)
DEPLOY_EPILOG = _examples(
    "domogate deploy ./maison --server https://maison.local:7550 --setup-code ACDE-FGHJ-KLMN "
    "--fingerprint 3a7f…",
    'echo "$SERVICE_PASSWORD" | domogate deploy ./maison --server https://maison.local:7550 '
    "--password-stdin",
)


def _load_project_data(directory: Path) -> tuple[str, dict[str, Any]]:
    try:
        projectfile = importlib.import_module("domogate.storage.projectfile")
        project_model = importlib.import_module("domogate.core.project")
    except ImportError as exc:  # pragma: no cover - only while the project code is missing
        raise DomogateError(f"Project support is not available: {exc}.") from exc
    project = projectfile.load_project(directory)
    data: dict[str, Any] = project_model.project_to_data(project)
    name = getattr(project, "name", None)
    if not name:
        system = data.get("system") if isinstance(data.get("system"), dict) else {}
        name = data.get("name") or (system or {}).get("name") or directory.name
    return str(name), data


def _users_line(label: str, users: object, *, always: bool) -> str | None:
    """``Users created: alice, bob`` (``none`` when empty; skipped unless ``always``)."""
    names = [
        _display_name(u) if isinstance(u, Mapping) else safe_text(u)
        for u in (users if isinstance(users, list) else [])
    ]
    if not names and not always:
        return None
    return f"Users {label}: {', '.join(names) or 'none'}"


def deploy(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="The project folder.", show_default=False),
    ],
    server: Annotated[
        str,
        typer.Option("--server", metavar="URL", help="The server URL, e.g. https://host:7550."),
    ],
    setup_code: Annotated[
        str | None,
        typer.Option("--setup-code", metavar="CODE", help="First deploy: the server's setup code."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Later deploys: read the service password from stdin."
        ),
    ] = False,
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", metavar="SHA256", help="Expected certificate fingerprint."),
    ] = None,
    insecure_http: InsecureHttpOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy a project (see DEPLOY_HELP)."""
    base = normalise_base_url(server)
    require_secure_transport(base, insecure_http)
    if base.lower().startswith("http://"):
        _note(INSECURE_HTTP_WARNING)
    if setup_code is not None and password_stdin:
        raise InvalidInput("Use either --setup-code or --password-stdin, not both.")
    password: str | None = None
    if password_stdin:
        password = read_password_line(sys.stdin)
    elif setup_code is None:
        if _stdin_is_tty():
            password = typer.prompt("Service password", hide_input=True, err=True)
        else:
            raise InvalidInput(
                "Give the setup code (--setup-code, first deploy) or the service password "
                "on standard input (--password-stdin)."
            )
    project_name, data = _load_project_data(directory)

    known_cert: bytes | None = None
    if fingerprint is None and base.startswith("https://"):
        try:
            stored = _load_config(config)
        except (NotEnrolled, ClientError):
            stored = None
        if stored is not None and normalise_base_url(stored.server.url) == base:
            known_cert = stored.server_cert_pem

    async def run() -> dict[str, Any]:
        cert_pem = known_cert
        if cert_pem is None:
            cert_pem, _ = await pin_server(base, pin=fingerprint, confirm=_confirm_if_tty())
        async with ServerApi(base, cert_pem=cert_pem) as api:
            return await api.deploy(data, setup_code=setup_code, password=password)

    result = asyncio.run(run())
    if as_json:
        print_json(result)
        return
    name = result.get("name") or project_name
    _echo(f"Deployed {safe_text(name)} as version {safe_text(result.get('version'))} to {base}")
    for label, key, always in (
        ("created", "users_created", True),
        ("updated", "users_updated", True),
        ("removed", "users_removed", False),
        ("kept", "users_kept", True),
    ):
        line = _users_line(label, result.get(key), always=always)
        if line:
            _echo(line)
    differs = _users_line(
        "whose admin flag was kept as the server decided (it differs from the project)",
        result.get("admin_differs"),
        always=False,
    )
    if differs:
        _echo(differs)


def register(app: typer.Typer) -> None:
    """Add the client commands to the root ``domogate`` app."""
    add_command(app, "connect", connect, help=CONNECT_HELP, epilog=CONNECT_EPILOG)
    add_command(app, "whoami", whoami, help=WHOAMI_HELP, epilog=WHOAMI_EPILOG)
    app.add_typer(clients_app, name="clients")
    add_command(app, "audit", audit, help=AUDIT_HELP, epilog=AUDIT_EPILOG)
    add_command(app, "deploy", deploy, help=DEPLOY_HELP, epilog=DEPLOY_EPILOG)


__all__ = [
    "format_seconds",
    "parse_duration",
    "parse_when",
    "read_password_line",
    "register",
    "resolve_device",
    "resolve_user",
    "safe_text",
    "write_qr_files",
]
