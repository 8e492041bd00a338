"""The client commands' pure parts: durations, dates, targets, user resolution, QR files,
and the command line checks that fail before any server is contacted."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import typer
import zxingcpp
from PIL import Image
from typer.testing import CliRunner

from domogate.cli import client_cmd
from domogate.cli.client_cmd import (
    format_seconds,
    parse_duration,
    parse_when,
    read_password_line,
    resolve_device,
    resolve_user,
    safe_text,
    write_qr_files,
)
from domogate.client.enrolment import default_device_name, parse_target
from domogate.errors import InvalidInput, NotFound

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
FP = "0f" * 32
LINK = (
    "https://192.168.1.20:7550/join#v=1&s=4f3c2a1b-server&fp="
    + FP
    + "&otp=ACDEF-GHJKL&n=Maison+%C3%A0+Lyon"
)


# --- durations and dates ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("2h", 7200),
        ("30m", 1800),
        ("90s", 90),
        ("1d", 86400),
        ("1h30m", 5400),
        ("1d2h3m4s", 93784),
        (" 2H ", 7200),
        ("1h 30m", 5400),
    ],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "2", "2x", "h", "1.5h", "-2h", "30m1h", "0s", "2 hours"])
def test_bad_durations_are_clear_errors(text: str) -> None:
    with pytest.raises(InvalidInput, match=r"duration"):
        parse_duration(text)


def test_when_accepts_dates_datetimes_and_durations() -> None:
    assert parse_when("2026-12-31", NOW) == datetime(2026, 12, 31, tzinfo=UTC)
    assert parse_when("2026-12-31T18:00", NOW) == datetime(2026, 12, 31, 18, tzinfo=UTC)
    plus_one = timezone(timedelta(hours=1))
    assert parse_when("2026-12-31T18:00+01:00", NOW) == datetime(2026, 12, 31, 18, tzinfo=plus_one)
    assert parse_when("2026-12-31T18:00+01:00", NOW).tzinfo == UTC
    assert parse_when("2026-12-31T17:00:00Z", NOW) == datetime(2026, 12, 31, 17, tzinfo=UTC)
    assert parse_when("7d", NOW) == NOW + timedelta(days=7)
    assert parse_when("1h30m", NOW) == NOW + timedelta(minutes=90)


@pytest.mark.parametrize("text", ["2020-01-01", "tomorrow", "31/12/2026", "999999999d"])
def test_when_rejects_the_past_and_garbage(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_when(text, NOW)


def test_format_seconds() -> None:
    assert format_seconds(7200) == "2 h"
    assert format_seconds(5400) == "1 h 30 min"
    assert format_seconds(90000) == "1 d 1 h"
    assert format_seconds(42) == "42 s"
    assert format_seconds(-5) == "0 s"


# --- targets, passwords, names ----------------------------------------------------------------


def test_join_link_target() -> None:
    target = parse_target(LINK)
    assert target.base_url == "https://192.168.1.20:7550"
    assert target.server_id == "4f3c2a1b-server"
    assert target.fingerprint == FP
    assert target.otp == "ACDEF-GHJKL"
    assert target.server_name == "Maison à Lyon"


def test_join_link_with_a_colon_fingerprint_is_normalised() -> None:
    colons = ":".join(["0F"] * 32)
    target = parse_target(f"https://h:7550/join#v=1&s=x&fp={colons}")
    assert target.fingerprint == FP
    assert target.otp is None


@pytest.mark.parametrize(
    ("url", "base"),
    [
        ("https://maison.local:7550", "https://maison.local:7550"),
        ("https://maison.local:7550/", "https://maison.local:7550"),
        ("http://127.0.0.1:8000/join", "http://127.0.0.1:8000"),
    ],
)
def test_server_url_target(url: str, base: str) -> None:
    target = parse_target(url)
    assert target.base_url == base
    assert target.server_id is None and target.fingerprint is None and target.otp is None


@pytest.mark.parametrize(
    "bad", ["maison.local:7550", "ftp://h/x", "https://h/join#v=2&s=x", "https://h/join#v=1"]
)
def test_bad_targets(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_target(bad)


def test_password_is_the_first_line_of_stdin() -> None:
    assert read_password_line(io.StringIO("s3cret pass\nsecond line\n")) == "s3cret pass"
    assert read_password_line(io.StringIO("windows\r\n")) == "windows"
    assert read_password_line(io.StringIO("no newline")) == "no newline"
    with pytest.raises(InvalidInput):
        read_password_line(io.StringIO(""))
    with pytest.raises(InvalidInput):
        read_password_line(io.StringIO("\n"))


def test_default_device_name() -> None:
    assert default_device_name().endswith(" (cli)")
    assert "@" in default_device_name()


def test_untrusted_text_loses_control_characters() -> None:
    assert safe_text("alice\x1b[31m\u202e") == "alice\ufffd[31m\ufffd"
    assert safe_text("[bold]x[/bold]") == "[bold]x[/bold]"
    assert safe_text(None) == ""


# --- resolving users --------------------------------------------------------------------------


def _client(
    uid: str, label: str, name: str | None, status: str = "Offline", **extra: Any
) -> dict[str, Any]:
    return {"id": uid, "label": label, "name": name, "group": "family", "status": status, **extra}


CLIENTS = [
    _client("u-1", "Alice", "Alice"),
    _client("u-2", "ACDEF-GHJKL", None, "Pending"),
    _client("u-3", "Bob", "Bob", "Revoked"),
    _client("u-4", "Bob", "Bob"),
    _client("u-5", "Carol", "Carol", "Revoked"),
    _client("u-6", "Carol", "Carol", "Revoked"),
    _client("u-7", "Zoé", "Zoé"),
    _client("u-8", "Zoe-Anne", "Zoe-Anne"),
]


@pytest.mark.parametrize(
    ("query", "uid"),
    [
        ("u-1", "u-1"),
        ("alice", "u-1"),
        ("ALICE", "u-1"),
        (" Alice ", "u-1"),
        ("ACDEF-GHJKL", "u-2"),
        ("acdefghjkl", "u-2"),
        ("acdef ghjkl", "u-2"),
        ("bob", "u-4"),  # the only one that is not revoked
        ("u-3", "u-3"),  # an id is always exact
        ("zoé", "u-7"),
        ("ZOE", "u-7"),  # accents are ignored when nothing matches exactly
        ("zoe-anne", "u-8"),
    ],
)
def test_resolve_user(query: str, uid: str) -> None:
    assert resolve_user(CLIENTS, query)["id"] == uid


def test_ambiguous_user_lists_candidates() -> None:
    with pytest.raises(InvalidInput) as info:
        resolve_user(CLIENTS, "carol")
    assert "u-5" in info.value.message and "u-6" in info.value.message
    assert [c["id"] for c in info.value.details["candidates"]] == ["u-5", "u-6"]


def test_unknown_user_lists_who_exists() -> None:
    with pytest.raises(NotFound) as info:
        resolve_user(CLIENTS, "dave")
    assert "Alice" in info.value.message and "ACDEF-GHJKL" in info.value.message
    assert len(info.value.details["candidates"]) == len(CLIENTS)
    with pytest.raises(InvalidInput):
        resolve_user(CLIENTS, "  ")


def test_resolve_device() -> None:
    client = _client(
        "u-1",
        "Alice",
        "Alice",
        devices=[
            {"id": "d-1234-aaaa", "name": "Laptop", "revoked": False},
            {"id": "d-1234-bbbb", "name": "Phone", "revoked": False},
        ],
    )
    assert resolve_device(client, "d-1234-bbbb")["name"] == "Phone"
    assert resolve_device(client, "laptop")["id"] == "d-1234-aaaa"
    assert resolve_device(client, "d-1234-a")["name"] == "Laptop"
    with pytest.raises(InvalidInput, match="several"):
        resolve_device(client, "d-1234")
    with pytest.raises(NotFound, match="Laptop"):
        resolve_device(client, "tablet")


# --- QR codes ---------------------------------------------------------------------------------


def _decode(path: Path) -> list[str]:
    with Image.open(path) as image:
        return [barcode.text for barcode in zxingcpp.read_barcodes(image)]


def test_qr_files_decode_to_exactly_the_join_link(tmp_path: Path) -> None:
    png = tmp_path / "join.png"
    svg = tmp_path / "join.svg"
    write_qr_files(LINK, png=png, svg=svg)
    assert _decode(png) == [LINK]
    with Image.open(png) as image:
        assert image.size[0] % 8 == 0  # scale 8
    assert svg.read_text().lstrip().startswith(("<?xml", "<svg"))


def test_issued_otp_output_writes_a_decodable_qr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The code path of `clients add` / `clients otp` after the server answered."""
    expires = (datetime.now(UTC) + timedelta(hours=2)).isoformat().replace("+00:00", "Z")
    issued = {
        "client": _client("u-9", "ACDEF-GHJKL", None, "Pending"),
        "otp": "ACDEF-GHJKL",
        "otp_expires_at": expires,
        "join_link": LINK,
    }
    png = tmp_path / "slot.png"
    client_cmd._print_issued(issued, heading="Added.", as_json=False, qr_png=png, qr_svg=None)
    out = capsys.readouterr().out
    assert _decode(png) == [LINK]
    assert "ACDEF-GHJKL" in out
    assert LINK in out
    assert "(in 1 h 59 min)" in out or "(in 2 h)" in out
    assert f"QR code written to {png}" in out
    assert "\u2580" in out or "\u2584" in out or "\u2588" in out  # the terminal QR code

    client_cmd._print_issued(issued, heading="Added.", as_json=True, qr_png=None, qr_svg=None)
    assert json.loads(capsys.readouterr().out) == issued  # no terminal QR code with --json


def test_unwritable_qr_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(Exception, match="Cannot write the QR code"):
        write_qr_files(LINK, png=tmp_path / "missing-dir" / "x.png")


# --- command line, before any server --------------------------------------------------------


def _run(app: typer.Typer, *args: str, stdin: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=stdin)


def test_help_of_every_command(app: typer.Typer) -> None:
    for args in (
        ["connect"],
        ["whoami"],
        ["clients"],
        ["clients", "list"],
        ["clients", "add"],
        ["clients", "otp"],
        ["clients", "revoke"],
        ["audit"],
        ["deploy"],
    ):
        result = _run(app, *args, "--help")
        assert result.exit_code == 0, (args, result.output)
        assert "Usage" in result.stdout


def test_commands_need_an_enrolment(app: typer.Typer, tmp_path: Path) -> None:
    for args in (
        ["whoami"],
        ["clients", "list"],
        ["clients", "add"],
        ["clients", "otp", "alice"],
        ["clients", "revoke", "alice"],
        ["audit"],
    ):
        result = _run(app, *args, "--config", str(tmp_path / "empty"), "--json")
        assert result.exit_code == 1, (args, result.output)
        assert json.loads(result.stdout)["error"]["code"] == "not_enrolled"
    text = _run(app, "whoami", "--config", str(tmp_path / "empty"))
    assert text.exit_code == 1
    assert text.stderr.startswith("error: not_enrolled:")


def test_config_folder_from_the_environment(
    app: typer.Typer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DOMOGATE_CONFIG", str(tmp_path / "env-cfg"))
    result = _run(app, "whoami", "--json")
    assert json.loads(result.stdout)["error"]["details"]["config"] == str(tmp_path / "env-cfg")


def test_bad_duration_fails_before_contacting_anyone(app: typer.Typer, tmp_path: Path) -> None:
    result = _run(
        app, "clients", "add", "--valid-for", "2 hours", "--config", str(tmp_path), "--json"
    )
    assert result.exit_code == 2  # a malformed option is a usage error (README)
    assert "--valid-for" in result.stderr and "Not a duration" in result.stderr
    assert result.stdout == ""
    result = _run(
        app, "clients", "add", "--account-expires", "2001-01-01", "--config", str(tmp_path)
    )
    assert result.exit_code == 1 and "in the past" in result.stderr


def test_connect_argument_checks(app: typer.Typer, tmp_path: Path) -> None:
    cfg = ["--config", str(tmp_path / "cfg"), "--json"]

    def code(*args: str, stdin: str | None = None) -> str:
        result = _run(app, "connect", *args, *cfg, stdin=stdin)
        assert result.exit_code == 1, result.output
        return str(json.loads(result.stdout)["error"]["message"])

    assert "--name" in code(LINK)  # an OTP needs the person's name
    assert "--password-stdin" in code("https://h:7550", "--username", "alice")
    assert "--username" in code("https://h:7550", "--password-stdin")
    assert "not both" in code("https://h:7550", "--otp", "X", "--username", "a", "--password-stdin")
    assert "Nothing to sign in with" in code("https://h:7550")
    assert "--fingerprint differs" in code(LINK, "--name", "A", "--fingerprint", "ab" * 32)
    assert "fingerprint" in code(
        "https://h:7550", "--otp", "X", "--name", "A", "--fingerprint", "x"
    )
    assert "Not a join link" in code("h:7550", "--otp", "X", "--name", "A")
    assert not (tmp_path / "cfg").exists()


def test_deploy_argument_checks(app: typer.Typer, tmp_path: Path) -> None:
    base = ["deploy", str(tmp_path), "--server", "https://h:7550", "--json"]
    result = _run(app, *base, "--setup-code", "1", "--password-stdin", stdin="pw\n")
    assert json.loads(result.stdout)["error"]["message"].endswith("not both.")
    result = _run(app, *base)
    assert "--setup-code" in json.loads(result.stdout)["error"]["message"]
    result = _run(app, *base, "--password-stdin", stdin="")
    assert "standard input" in json.loads(result.stdout)["error"]["message"]
