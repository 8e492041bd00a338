"""What the client commands share: printing, terminal questions, the config folder,
signing in with this CLI's device key, and reading the server's answers safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import typer
from rich.console import Console

from domogate.cli.output import terminal_text
from domogate.client.config import ClientConfig, resolve_config_dir
from domogate.client.session import (
    INSECURE_HTTP_WARNING,
    SERVER_DATA_ERRORS,
    SignedIn,
    sign_in,
    unexpected_answer,
)
from domogate.core.paths import Plan, check_path, choices, needs_choice, plan, policy_of
from domogate.errors import DomogateError

T = TypeVar("T")

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


def choose_plan(config: ClientConfig, forced: str | None) -> Plan:
    """The connection plan of a client command: ``--path``, else the server's policy;
    with automatic connection off, a person on a terminal chooses, and without a terminal
    it is a usage error (exit 2) asking for ``--path``."""
    server = config.server
    policy = policy_of(server.connection_policy)
    chosen: str | None = None
    if needs_choice(forced=forced, automatic=server.automatic_connection):
        if not _stdin_is_tty():
            raise typer.BadParameter(
                "Automatic connection is off for this server: choose the path with "
                "--path local or --path cloud.",
                param_hint="'--path'",
            )
        options = choices(policy, cloud_known=server.cloud_known)
        answer = typer.prompt(
            f"Automatic connection is off. Connect through which path ({'/'.join(options)})?",
            default=options[0],
            err=True,
        )
        chosen = check_path(str(answer))
    return plan(
        policy,
        forced=forced if forced is not None else chosen,
        automatic=server.automatic_connection,
        cloud_known=server.cloud_known,
    )


def _run_signed_in(
    config_dir: Path | None,
    action: Callable[[SignedIn], Awaitable[T]],
    path: str | None = None,
) -> T:
    config = _load_config(config_dir)
    if config.server.insecure_http and config.server.url.lower().startswith("http://"):
        _note(INSECURE_HTTP_WARNING)
    the_plan = choose_plan(config, path)

    async def run() -> T:
        async with await sign_in(config, plan=the_plan) as session:
            with server_data(session.api.base_url):
                return await action(session)

    return asyncio.run(run())


def _doc(*paragraphs: str) -> str:
    """Help text for rich ``--help``: paragraphs separated by blank lines."""
    return "\n\n".join(paragraphs)


def _examples(*lines: str) -> str:
    return _doc("[bold]Examples[/bold]", *(f"  {line}" for line in lines))
