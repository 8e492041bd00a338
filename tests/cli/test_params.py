"""Durations and dates are click parameter types: a malformed one is a usage error (exit 2)
with a clear message, before anything else happens."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from domogate.cli.main import app
from domogate.cli.params import duration_param, when_param


def test_duration_param() -> None:
    assert duration_param("2h") == 7200
    assert duration_param("90m") == 5400
    assert duration_param("30s") == 30
    assert duration_param("1h30m") == 5400
    for bad in ("5x", "", "2 hours", "0s", "-1h"):
        with pytest.raises(typer.BadParameter):
            duration_param(bad)


def test_when_param_checks_the_syntax_only() -> None:
    for good in ("7d", "2026-12-31", "2026-12-31T18:00+01:00", "2001-01-01"):
        assert when_param(good) == good
    with pytest.raises(typer.BadParameter, match="Not a date"):
        when_param("tomorrow")


@pytest.mark.parametrize(
    "args",
    [
        ["clients", "add", "--valid-for", "5x"],
        ["clients", "otp", "alice", "--valid-for", "5x"],
        ["clients", "add", "--account-expires", "next week"],
    ],
)
def test_malformed_option_exits_2(args: list[str], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, [*args, "--config", str(tmp_path / "none"), "--json"])
    assert result.exit_code == 2, result.output
    assert "Invalid value for" in result.stderr
    assert result.stdout == ""


def test_well_formed_option_goes_on_to_the_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app, ["clients", "add", "--valid-for", "90m", "--config", str(tmp_path / "none")]
    )
    assert result.exit_code == 1  # no enrolment here: the command itself ran
    assert result.stderr.startswith("error: not_enrolled:")
