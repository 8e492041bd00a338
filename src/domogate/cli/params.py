"""Command-line parameters of the client commands: durations, dates, passwords on
standard input, and the options several commands share.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Annotated

import typer

from domogate.core.paths import check_path
from domogate.core.times import iso
from domogate.errors import InvalidInput

# --- durations and dates ---

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
    """``when`` (any time zone) as the API writes instants: UTC, with a ``Z``."""
    return iso(when.astimezone(UTC))


def read_password_line(stream: IO[str]) -> str:
    """The first line of ``stream`` without its line ending."""
    line = stream.readline()
    password = line.rstrip("\r\n")
    if not password:
        raise InvalidInput("No password on standard input (expected it on the first line).")
    return password


# --- click parameter types: a malformed value is a usage error (exit 2) ----------------


def duration_param(text: str) -> int:
    """The parser of a duration option (``--valid-for 2h``): seconds, or a usage error."""
    try:
        return parse_duration(text)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None


def when_param(text: str) -> str:
    """The parser of a date option (``--account-expires``): an ISO date or date-time, or a
    duration from now; a usage error otherwise. Whether it lies in the future is for the
    command to say (``parse_when``), against the time at which it runs."""
    try:
        parse_duration(text)
    except InvalidInput:
        try:
            datetime.fromisoformat(text.strip())
        except ValueError:
            raise typer.BadParameter(
                f"Not a date, date-time or duration: {text!r}. Use e.g. 2026-12-31, "
                "2026-12-31T18:00, 2026-12-31T18:00+01:00 or a duration like 7d."
            ) from None
    return text


def path_param(text: str) -> str:
    """The parser of ``--path``: ``local`` or ``cloud``, or a usage error."""
    try:
        return check_path(text)
    except InvalidInput as exc:
        raise typer.BadParameter(exc.message) from None


# --- shared options ---

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
PathOption = Annotated[
    str | None,
    typer.Option(
        "--path",
        envvar="DOMOGATE_PATH",
        metavar="local|cloud",
        show_default=False,
        parser=path_param,
        help="Reach the server on this path only: local (its local address) or cloud "
        "(through the relay). Default: the server's connection policy (local and cloud: "
        "local first, cloud if local does not answer within 250 ms).",
    ),
]
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
    int | None,
    typer.Option(
        "--valid-for",
        parser=duration_param,
        metavar="DURATION",
        show_default=False,
        help="How long the OTP stays valid: 90s, 30m, 2h, 1d, 1h30m (server default: 2h).",
    ),
]
