"""``domogate audit``: the audit log, as text or JSON lines."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from domogate.cli.params import (
    ConfigOption,
    JsonOption,
    PathOption,
)
from domogate.cli.plumbing import (
    _doc,
    _examples,
    _run_signed_in,
    _stdout,
    dict_list,
    format_time,
    safe_text,
)
from domogate.cli.resolve import find_user
from domogate.client.session import SignedIn
from domogate.errors import NotFound

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
    path: PathOption = None,
    as_json: JsonOption = False,
) -> None:
    """Show or export the audit log."""
    if as_json and limit is None and user is None:

        async def export(session: SignedIn) -> list[dict[str, Any]]:
            return await session.api.audit_events()

        # Each line re-encoded: no raw control character from the server reaches stdout.
        for event in _run_signed_in(config, export, path):
            sys.stdout.write(json.dumps(event, default=str) + "\n")
        return

    async def action(session: SignedIn) -> list[dict[str, Any]]:
        user_id: str | None = None
        if user is not None:
            try:
                user_id = str((await find_user(session, user))["id"])
            except NotFound:
                user_id = user.strip()  # a removed user: try it as an id
        answer = await session.api.audit(limit if limit is not None else 200, user_id)
        return list(reversed(dict_list(answer.get("events"), "events")))

    events = _run_signed_in(config, action, path)
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
