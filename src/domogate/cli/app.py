"""How every ``domogate`` command runs: the Typer app class and the one error handler.

A :class:`~domogate.errors.DomogateError` that escapes a command (or a group's callback,
such as ``domogate server``) is printed by :func:`domogate.cli.output.fail` (``error:
CODE: message`` on stderr; ``{"error": {...}}`` on stdout when the command got
``--json``) and ends the process with the error class's ``exit_code``. Commands raise;
they do not catch to report.

The handler sits in the click command classes rather than around ``main()`` so that it
also holds for ``CliRunner`` and for apps that ``register()`` the commands themselves.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

import typer
from typer.core import TyperCommand, TyperGroup
from typer.models import CommandFunctionType

from domogate.cli.output import fail
from domogate.errors import DomogateError


class _HasParams(Protocol):
    params: dict[str, Any]


@contextmanager
def _reporting(ctx: _HasParams) -> Iterator[None]:
    try:
        yield
    except DomogateError as exc:
        fail(exc, as_json=bool(ctx.params.get("as_json", False)))


class ReportingCommand(TyperCommand):
    """A command whose DomogateErrors become the CLI's error output and exit status."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer may vendor click)
        with _reporting(ctx):
            return super().invoke(ctx)


class ReportingGroup(TyperGroup):
    """A group whose callback's (and any plain subcommand's) DomogateErrors are reported."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer may vendor click)
        with _reporting(ctx):
            return super().invoke(ctx)


class App(typer.Typer):
    """``typer.Typer`` whose groups and commands report errors (see the module's doc)."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("cls", ReportingGroup)
        super().__init__(**kwargs)

    def command(
        self, name: str | None = None, **kwargs: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        kwargs.setdefault("cls", ReportingCommand)
        return super().command(name, **kwargs)


def add_command(app: typer.Typer, name: str, function: Callable[..., Any], **kwargs: Any) -> None:
    """Add ``function`` to any Typer ``app`` (also a plain one) as a reporting command."""
    app.command(name, cls=ReportingCommand, **kwargs)(function)
