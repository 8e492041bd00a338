"""``domogate clients list|add|otp|revoke``: Manage clients, as an admin's device."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from domogate.cli.app import App
from domogate.cli.output import print_json
from domogate.cli.params import (
    ConfigOption,
    JsonOption,
    PathOption,
    QrPngOption,
    QrSvgOption,
    ValidForOption,
    iso_utc,
    parse_when,
    when_param,
)
from domogate.cli.plumbing import (
    _display_name,
    _doc,
    _echo,
    _examples,
    _run_signed_in,
    _stdout,
    dict_list,
    format_seconds,
    format_time,
    safe_text,
)
from domogate.cli.qr import check_writable, make_qr, write_qr_files
from domogate.cli.resolve import find_user, resolve_device
from domogate.client.session import SignedIn
from domogate.errors import DomogateError


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
def clients_list(
    config: ConfigOption = None, path: PathOption = None, as_json: JsonOption = False
) -> None:
    """List users and pending slots."""

    async def action(session: SignedIn) -> dict[str, Any]:
        return await session.api.list_clients()

    listing = _run_signed_in(config, action, path)
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
    "domogate clients add --name Guest --group guests --account-expires 7d --allow local",
    "domogate clients add --group family --admin --allow local --allow cloud --json",
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
            parser=when_param,
            metavar="WHEN",
            help="Guest access until WHEN: an ISO date/date-time (UTC if no zone; a date "
            "means 00:00 UTC) or a duration from now (7d).",
        ),
    ] = None,
    paths: Annotated[
        list[str] | None,
        typer.Option(
            "--allow",
            metavar="PATH",
            help="A path the user may connect through: local or cloud (repeat; default: "
            "both). Not --path, which says how this CLI reaches the server.",
        ),
    ] = None,
    qr_png: QrPngOption = None,
    qr_svg: QrSvgOption = None,
    config: ConfigOption = None,
    path: PathOption = None,
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
        fields["valid_for_s"] = valid_for
    if account_expires is not None:
        fields["account_expires_at"] = iso_utc(parse_when(account_expires, datetime.now(UTC)))
    if paths:
        fields["paths"] = list(dict.fromkeys(p.strip().lower() for p in paths))

    check_writable(qr_png, qr_svg)

    async def action(session: SignedIn) -> dict[str, Any]:
        return await session.api.add_client(**fields)

    issued = _run_signed_in(config, action, path)
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
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Issue a new OTP for an existing user."""
    valid_for_s = valid_for
    check_writable(qr_png, qr_svg)

    async def action(session: SignedIn) -> tuple[Mapping[str, Any], dict[str, Any]]:
        target = await find_user(session, user)
        return target, await session.api.issue_otp(str(target["id"]), valid_for_s)

    target, issued = _run_signed_in(config, action, path)
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
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Revoke a user or one of their devices."""

    async def action(
        session: SignedIn,
    ) -> tuple[Mapping[str, Any], Mapping[str, Any] | None, dict[str, Any]]:
        target = await find_user(session, user)
        if device is None:
            return target, None, await session.api.revoke_user(str(target["id"]))
        dev = resolve_device(target, device)
        answer = await session.api.revoke_device(str(target["id"]), str(dev["id"]))
        return target, dev, answer

    target, dev, answer = _run_signed_in(config, action, path)
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
