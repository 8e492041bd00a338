"""How the CLI prints results and errors: human text by default, JSON with ``--json``.

Errors print ``error: CODE: message`` on stderr; with ``--json`` they print
``{"error": {...}}`` on stdout. Either way the exit status is the error class's
``exit_code`` (1). ``cli/app.py`` calls :func:`fail` for every command.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from typing import Any, NoReturn

import typer

from domogate.errors import DomogateError


def terminal_text(value: object) -> str:
    """Untrusted text for a terminal: control and format characters replaced, so that a
    hostile name or server message cannot send escape sequences."""
    if value is None:
        return ""
    return "".join(
        "\N{REPLACEMENT CHARACTER}" if unicodedata.category(ch) in ("Cc", "Cf") else ch
        for ch in str(value)
    )


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def fail(error: DomogateError, *, as_json: bool) -> NoReturn:
    if as_json:
        sys.stdout.write(json.dumps({"error": error.to_dict()}) + "\n")
    else:
        code, message = terminal_text(error.code), terminal_text(error.message)
        sys.stderr.write(f"error: {code}: {message}\n")
        problems = error.details.get("problems") if error.details else None
        if isinstance(problems, list):
            for p in problems:
                if isinstance(p, dict) and "file" in p:
                    where = terminal_text(p.get("file", ""))
                    if p.get("line"):
                        where += f":{terminal_text(p['line'])}"
                    path, text = (
                        terminal_text(p.get("path", "")),
                        terminal_text(p.get("message", "")),
                    )
                    sys.stderr.write(f"  {where}: {path}: {text}\n")
    raise typer.Exit(error.exit_code)
