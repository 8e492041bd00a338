"""Client commands: ``connect``, ``whoami``, ``clients …``, ``audit``, ``deploy``.

They act on a server as this CLI's enrolled device (key and server pin in the config
folder, ``--config DIR`` / ``$DOMOGATE_CONFIG``). Each lives in its own module
(``connect_cmd``, ``clients_cmd``, ``audit_cmd``, ``deploy_cmd``) over the shared
``params``, ``plumbing``, ``resolve`` and ``qr``; this one adds them to an app and names
the pure helpers, which are tested on their own.
"""

from __future__ import annotations

import typer

from domogate.cli.app import add_command
from domogate.cli.audit_cmd import AUDIT_EPILOG, AUDIT_HELP, audit
from domogate.cli.clients_cmd import _print_issued, clients_app
from domogate.cli.connect_cmd import (
    CONNECT_EPILOG,
    CONNECT_HELP,
    WHOAMI_EPILOG,
    WHOAMI_HELP,
    connect,
    whoami,
)
from domogate.cli.deploy_cmd import DEPLOY_EPILOG, DEPLOY_HELP, deploy
from domogate.cli.params import parse_duration, parse_when, read_password_line
from domogate.cli.plumbing import format_seconds, safe_text
from domogate.cli.qr import write_qr_files
from domogate.cli.resolve import resolve_device, resolve_user


def register(app: typer.Typer) -> None:
    """Add the client commands to the root ``domogate`` app."""
    add_command(app, "connect", connect, help=CONNECT_HELP, epilog=CONNECT_EPILOG)
    add_command(app, "whoami", whoami, help=WHOAMI_HELP, epilog=WHOAMI_EPILOG)
    app.add_typer(clients_app, name="clients")
    add_command(app, "audit", audit, help=AUDIT_HELP, epilog=AUDIT_EPILOG)
    add_command(app, "deploy", deploy, help=DEPLOY_HELP, epilog=DEPLOY_EPILOG)


__all__ = [
    "_print_issued",
    "format_seconds",
    "parse_duration",
    "parse_when",
    "read_password_line",
    "register",
    "resolve_device",
    "resolve_user",
    "safe_text",
    "write_qr_files",
]
