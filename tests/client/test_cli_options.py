"""No command has two options of the same name (click lets the later one silently take
the flag: ``clients add --path`` once meant both "allowed path" and "connect through")."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import typer

from domogate.cli.main import app


def _commands(group: Any, prefix: str = "domogate") -> Iterator[tuple[str, Any]]:
    yield prefix, group
    if isinstance(getattr(group, "commands", None), dict):  # a group (typer's own click)
        for name, command in group.commands.items():
            yield from _commands(command, f"{prefix} {name}")


def test_no_command_has_two_options_of_one_name() -> None:
    clashes = []
    commands = dict(_commands(typer.main.get_command(app)))
    assert "domogate clients add" in commands
    for name, command in commands.items():
        seen: dict[str, str] = {}
        for param in command.params:
            for flag in (*param.opts, *param.secondary_opts):
                if flag.startswith("-") and flag in seen:
                    clashes.append(f"{name}: {flag} ({seen[flag]} and {param.name})")
                seen[flag] = str(param.name)
    assert not clashes, clashes
