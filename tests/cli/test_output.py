"""Errors reach the terminal without escape sequences, whatever the server sent."""

from __future__ import annotations

import json

import pytest
import typer

from domogate.cli.output import fail, terminal_text
from domogate.errors import error_from_dict


def test_terminal_text_neutralises_control_and_format_characters() -> None:
    assert (
        terminal_text("\x1b]0;pwned\x07ok")
        == "\N{REPLACEMENT CHARACTER}]0;pwned\N{REPLACEMENT CHARACTER}ok"
    )
    assert terminal_text("a\u202eb") == "a\N{REPLACEMENT CHARACTER}b"
    assert terminal_text("[red]Zoé[/red]") == "[red]Zoé[/red]"
    assert terminal_text(None) == ""


def test_hostile_server_error_is_printed_safely(capsys: pytest.CaptureFixture[str]) -> None:
    err = error_from_dict(
        {
            "code": "otp_invalid",
            "message": "\x1b[31mred\x1b[0m",
            "details": {"problems": [{"file": "\x1b]0;t\x07", "path": "a", "message": "\x07"}]},
        }
    )
    with pytest.raises(typer.Exit) as exit_info:
        fail(err, as_json=False)
    assert exit_info.value.exit_code == 1
    out = capsys.readouterr().err
    assert "\x1b" not in out and "\x07" not in out
    assert out.startswith("error: otp_invalid: ")


def test_json_errors_are_json(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(typer.Exit):
        fail(error_from_dict({"code": "forbidden", "message": "no"}), as_json=True)
    assert json.loads(capsys.readouterr().out)["error"]["code"] == "forbidden"
