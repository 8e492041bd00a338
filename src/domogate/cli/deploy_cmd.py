"""``domogate deploy``: validate a project folder and deploy it to a server."""

from __future__ import annotations

import asyncio
import importlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from domogate.cli.output import print_json
from domogate.cli.params import (
    ConfigOption,
    InsecureHttpOption,
    JsonOption,
    read_password_line,
)
from domogate.cli.plumbing import (
    _confirm_if_tty,
    _display_name,
    _doc,
    _echo,
    _examples,
    _load_config,
    _note,
    _stdin_is_tty,
    safe_text,
)
from domogate.client import integrator, publishrecord
from domogate.client.api import ServerApi, normalise_base_url
from domogate.client.enrolment import pin_server
from domogate.client.session import INSECURE_HTTP_WARNING, require_secure_transport
from domogate.errors import ClientError, DomogateError, InvalidInput, NotEnrolled

DEPLOY_HELP = _doc(
    "Validate a project folder and deploy it to a server (all or nothing).",
    "The first deploy to a fresh server needs the setup code the server printed at its "
    "first start; later deploys need the project's service password. The certificate is "
    "checked against --fingerprint, else against this CLI's pin when it is connected to "
    "the same server, else (on a terminal) you are asked to confirm it.",
    "Every deploy sends your integrator key's public half (made on first use in your config "
    "folder, or the file $DOMOGATE_INTEGRATOR_KEY names; never in the project folder): the "
    "server pins it, and accepts versions published through the cloud (`domogate cloud "
    "publish`) only when that key signed them. It then records the house's installation "
    "name and its cloud in DIR/.domogate/publish.json (no secret in it).",
)
DEPLOY_EPILOG = _examples(
    "domogate deploy ./maison --server https://maison.local:7550 --setup-code ACDE-FGHJ-KLMN "
    "--fingerprint 3a7f…",
    'echo "$SERVICE_PASSWORD" | domogate deploy ./maison --server https://maison.local:7550 '
    "--password-stdin",
)


def _load_project_data(directory: Path) -> tuple[str, dict[str, Any]]:
    try:
        projectfile = importlib.import_module("domogate.storage.projectfile")
        project_model = importlib.import_module("domogate.core.project")
    except ImportError as exc:  # pragma: no cover - only while the project code is missing
        raise DomogateError(f"Project support is not available: {exc}.") from exc
    project = projectfile.load_project(directory)
    data: dict[str, Any] = project_model.project_to_data(project)
    name = getattr(project, "name", None)
    if not name:
        system = data.get("system") if isinstance(data.get("system"), dict) else {}
        name = data.get("name") or (system or {}).get("name") or directory.name
    return str(name), data


def _users_line(label: str, users: object, *, always: bool) -> str | None:
    """``Users created: alice, bob`` (``none`` when empty; skipped unless ``always``)."""
    names = [
        _display_name(u) if isinstance(u, Mapping) else safe_text(u)
        for u in (users if isinstance(users, list) else [])
    ]
    if not names and not always:
        return None
    return f"Users {label}: {', '.join(names) or 'none'}"


def deploy(
    directory: Annotated[
        Path,
        typer.Argument(metavar="DIR", help="The project folder.", show_default=False),
    ],
    server: Annotated[
        str,
        typer.Option("--server", metavar="URL", help="The server URL, e.g. https://host:7550."),
    ],
    setup_code: Annotated[
        str | None,
        typer.Option("--setup-code", metavar="CODE", help="First deploy: the server's setup code."),
    ] = None,
    password_stdin: Annotated[
        bool,
        typer.Option(
            "--password-stdin", help="Later deploys: read the service password from stdin."
        ),
    ] = False,
    fingerprint: Annotated[
        str | None,
        typer.Option("--fingerprint", metavar="SHA256", help="Expected certificate fingerprint."),
    ] = None,
    insecure_http: InsecureHttpOption = False,
    config: ConfigOption = None,
    as_json: JsonOption = False,
) -> None:
    """Deploy a project (see DEPLOY_HELP)."""
    base = normalise_base_url(server)
    require_secure_transport(base, insecure_http)
    if base.lower().startswith("http://"):
        _note(INSECURE_HTTP_WARNING)
    if setup_code is not None and password_stdin:
        raise InvalidInput("Use either --setup-code or --password-stdin, not both.")
    password: str | None = None
    if password_stdin:
        password = read_password_line(sys.stdin)
    elif setup_code is None:
        if _stdin_is_tty():
            password = typer.prompt("Service password", hide_input=True, err=True)
        else:
            raise InvalidInput(
                "Give the setup code (--setup-code, first deploy) or the service password "
                "on standard input (--password-stdin)."
            )
    project_name, data = _load_project_data(directory)
    signer = integrator.load_or_create(directory)
    if signer.created:
        _note(integrator.created_message(signer))

    known_cert: bytes | None = None
    if fingerprint is None and base.startswith("https://"):
        try:
            stored = _load_config(config)
        except (NotEnrolled, ClientError):
            stored = None
        if stored is not None and normalise_base_url(stored.server.url) == base:
            known_cert = stored.server_cert_pem

    async def run() -> dict[str, Any]:
        cert_pem = known_cert
        if cert_pem is None:
            cert_pem, _ = await pin_server(base, pin=fingerprint, confirm=_confirm_if_tty())
        async with ServerApi(base, cert_pem=cert_pem) as api:
            return await api.deploy(
                data, setup_code=setup_code, password=password, publisher_key=signer.public_text
            )

    result = asyncio.run(run())
    installation = result.get("installation")
    address, cloud_fp = publishrecord.cloud_of(data)
    record_path = publishrecord.write_record(
        directory,
        publishrecord.PublishRecord(
            installation if isinstance(installation, str) and installation else None,
            base,
            signer.fingerprint,
            address,
            cloud_fp,
        ),
    )
    if as_json:
        print_json(
            {
                **result,
                "publisher_key_fingerprint": signer.fingerprint,
                "publish_record": str(record_path),
            }
        )
        return
    name = result.get("name") or project_name
    _echo(f"Deployed {safe_text(name)} as version {safe_text(result.get('version'))} to {base}")
    for label, key, always in (
        ("created", "users_created", True),
        ("updated", "users_updated", True),
        ("removed", "users_removed", False),
        ("kept", "users_kept", True),
    ):
        line = _users_line(label, result.get(key), always=always)
        if line:
            _echo(line)
    differs = _users_line(
        "whose admin flag was kept as the server decided (it differs from the project)",
        result.get("admin_differs"),
        always=False,
    )
    if differs:
        _echo(differs)
    _echo(f"Publisher key pinned: {signer.fingerprint} (your integrator key {signer.path})")
    if isinstance(installation, str) and installation:
        _echo(
            f"Installation {safe_text(installation)}"
            + (f" at cloud {safe_text(address)}" if address else " (no system.cloud.address)")
            + f"; recorded in {record_path}"
        )
