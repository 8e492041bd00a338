"""``domogate cloud publish DIR`` and ``domogate cloud versions DIR``: the integrator's side
of publishing through the cloud (``docs/cloud-publish.md``).

``publish`` validates the project as ``deploy`` does (the same function), signs a manifest
of its canonical content with the integrator key (``client/integrator.py``) and uploads it
to the cloud the house is linked to (``DIR/.domogate/publish.json``, written by the last
local deploy), authenticated by the installation's cloud password. ``versions`` lists what
the cloud holds for that installation, with each version's report from the house.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from domogate.cli.output import print_json
from domogate.cli.params import JsonOption, read_password_line
from domogate.cli.plumbing import _doc, _echo, _examples, _note, _stdin_is_tty, safe_text
from domogate.client import cloudversions, integrator, publishrecord
from domogate.core import publishing
from domogate.errors import (
    ClientError,
    CloudPasswordInvalid,
    InvalidInput,
    NotFound,
    RateLimited,
    VersionNotNewer,
)

PROGRESS_MIN_BYTES = 1024 * 1024
"""Uploads from this size on show their progress."""

DirArgument = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="The project folder (deployed locally once: DIR/.domogate/publish.json).",
        show_default=False,
    ),
]
PasswordStdinOption = Annotated[
    bool,
    typer.Option(
        "--password-stdin",
        help="Read the installation's cloud password (system.cloud.password) from stdin.",
    ),
]

PUBLISH_HELP = _doc(
    "Publish the project in DIR to its house through the cloud, signed with your integrator key.",
    "The project is validated as `domogate deploy` validates it, its canonical content is "
    "signed (installation, version, digest, time) with your integrator key and uploaded to "
    "the cloud recorded in DIR/.domogate/publish.json by your last local deploy, with the "
    "installation's cloud password. The house applies it when system."
    "automatic_server_update is on, else offers it to its admins; it accepts it only when "
    "the key its last local deploy pinned signed it, and only when it is newer.",
    "The version is the cloud's latest for the installation + 1, unless --version N.",
)
PUBLISH_EPILOG = _examples(
    'echo "$CLOUD_PASSWORD" | domogate cloud publish ./maison --password-stdin',
    "domogate cloud publish ./maison --version 12 --json",
)
VERSIONS_HELP = _doc(
    "List the versions the cloud holds for the house of DIR, newest first.",
    "Each with when it was published, its size and the house's report: applied, or "
    "refused with the reason's code. Needs the installation's cloud password.",
)
VERSIONS_EPILOG = _examples(
    'echo "$CLOUD_PASSWORD" | domogate cloud versions ./maison --password-stdin',
    "domogate cloud versions ./maison --json",
)


@dataclass(frozen=True)
class Target:
    """Where a project folder's versions go: the installation at its cloud."""

    installation: str
    address: str
    fingerprint: str | None
    record: publishrecord.PublishRecord


def target_of(directory: Path, project_data: dict[str, Any] | None = None) -> Target:
    """From ``publish.json`` (the project's ``system.cloud`` where it has no cloud)."""
    record = publishrecord.read_record(directory)
    path = publishrecord.record_path(directory)
    if not record.installation:
        raise ClientError(
            f"{path} has no installation name: the server {record.server or ''} had no cloud "
            "link when you deployed (plain HTTP?). Enable system.cloud and deploy locally "
            "again.",
            path=str(path),
        )
    address, fingerprint = record.cloud_address, record.cloud_fingerprint
    if not address and project_data is not None:
        address, fingerprint = publishrecord.cloud_of(project_data)
    if not address:
        raise ClientError(
            f"No cloud to publish to: neither {path} nor the project sets "
            "system.cloud.address. Enable the cloud in the project and deploy locally again.",
            path=str(path),
        )
    return Target(record.installation, address, fingerprint, record)


def read_cloud_password(password_stdin: bool) -> str:
    if password_stdin:
        return read_password_line(sys.stdin)
    if _stdin_is_tty():
        return str(typer.prompt("Cloud password of the installation", hide_input=True, err=True))
    raise InvalidInput(
        "Give the installation's cloud password (system.cloud.password) on standard input "
        "with --password-stdin."
    )


def explain(exc: Exception, target: Target) -> Exception:
    """The cloud's refusals, said in terms of what to do."""
    name = target.installation
    if isinstance(exc, CloudPasswordInvalid):
        return CloudPasswordInvalid(
            f"The cloud {target.address} refused the cloud password of installation {name}: "
            "give the plain system.cloud.password of the project deployed there (wrong "
            "passwords are throttled and audited by the cloud)."
        )
    if isinstance(exc, RateLimited):
        return RateLimited(
            exc.retry_after,
            f"The cloud {target.address} refuses more attempts for installation {name} for "
            f"now (too many wrong passwords); try again in {exc.retry_after} s.",
        )
    if isinstance(exc, VersionNotNewer):
        return VersionNotNewer(
            f"{exc.message} The cloud holds a version at least as new for installation "
            f"{name}: publish without --version (the next number is chosen), or with a "
            "higher one.",
            **exc.details,
        )
    if isinstance(exc, NotFound):
        return NotFound(
            f"The cloud {target.address} knows no versions API for installation {name} "
            f"({exc.message}); is the house linked to this cloud, and is the cloud up to date?"
        )
    return exc


async def _context(target: Target) -> Any:
    host, port = cloudversions.split_address(target.address)
    return await cloudversions.cloud_ssl_context(host, port, target.fingerprint)


def _check_key(key: integrator.IntegratorKey, target: Target) -> None:
    pinned = target.record.publisher_key_fingerprint
    if pinned and pinned != key.fingerprint:
        raise ClientError(
            f"Your integrator key {key.path} (fingerprint {key.fingerprint}) is not the one "
            f"the last local deploy of this folder pinned ({pinned}): the house would refuse "
            "this version. Restore that key from your backup (or point "
            f"${integrator.ENV_VAR} to it), or deploy locally once to pin this one.",
            pinned=pinned,
            actual=key.fingerprint,
        )


@contextmanager
def upload_progress(total: int, quiet: bool) -> Iterator[Callable[[int], None]]:
    """A progress bar on a terminal's stderr for a large upload; elsewhere a line at each
    quarter (nothing with ``quiet`` or for a small upload)."""
    if quiet or total < PROGRESS_MIN_BYTES:
        yield lambda _n: None
        return
    try:
        interactive = sys.stderr.isatty()
    except (AttributeError, ValueError):
        interactive = False
    mib = total / (1024 * 1024)
    if not interactive:
        sent = [0, 0]  # bytes, quarters told

        def tell(n: int) -> None:
            sent[0] += n
            quarters = sent[0] * 4 // total
            if quarters > sent[1]:
                sent[1] = quarters
                _note(f"uploading: {quarters * 25}% of {mib:.1f} MiB")

        yield tell
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    with Progress(
        TextColumn("uploading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=True,
    ) as progress:
        task = progress.add_task("upload", total=total)
        yield lambda n: progress.advance(task, n)


def publish(
    directory: DirArgument,
    password_stdin: PasswordStdinOption = False,
    version: Annotated[
        int | None,
        typer.Option(
            "--version",
            metavar="N",
            min=1,
            help="The version number (default: the cloud's latest + 1).",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish a project version (see PUBLISH_HELP)."""
    from domogate.cli.deploy_cmd import _load_project_data

    publishrecord.read_record(directory)  # "deploy once locally first" before anything
    _name, data = _load_project_data(directory)
    target = target_of(directory, data)
    key = integrator.load_or_create(directory)
    if key.created:
        _note(integrator.created_message(key))
    _check_key(key, target)
    password = read_cloud_password(password_stdin)
    content = publishing.canonical_content(data)
    if len(content) > publishing.MAX_CONTENT_BYTES:
        raise InvalidInput(
            f"The project is {len(content)} bytes as published; the cloud takes at most "
            f"{publishing.MAX_CONTENT_BYTES} bytes."
        )

    async def run() -> tuple[dict[str, Any], int, float]:
        context = await _context(target)
        async with cloudversions.CloudVersionsApi(
            target.address, target.installation, password, context=context
        ) as api:
            listed = None if version is not None else await api.versions()
            number = cloudversions.next_version(listed, version)
            manifest = publishing.make_manifest(
                target.installation, number, content, datetime.now(UTC), key.private.public_key()
            ).to_bytes()
            signature = publishing.sign_manifest(manifest, key.private)
            body = cloudversions.upload_body(manifest, signature, content)
            started = time.monotonic()
            with upload_progress(body.size, as_json) as progress:
                answer = await api.publish(body, progress)
            return answer, number, time.monotonic() - started

    try:
        answer, number, seconds = asyncio.run(run())
    except Exception as exc:
        raise explain(exc, target) from exc
    result = {
        "installation": answer.get("installation", target.installation),
        "version": answer.get("version", number),
        "digest": answer.get("digest", publishing.digest_of(content)),
        "size": answer.get("size", len(content)),
        "seconds": round(seconds, 3),
    }
    if as_json:
        print_json(result)
        return
    _echo(
        f"Published version {safe_text(result['version'])} of {safe_text(directory)} to "
        f"installation {safe_text(result['installation'])} at {safe_text(target.address)} "
        f"({safe_text(result['size'])} bytes, {result['seconds']:.1f} s)"
    )
    _echo(f"digest: {safe_text(result['digest'])}")


def _report_text(report: Any) -> str:
    if not isinstance(report, dict):
        return "pending"
    if report.get("applied") is True:
        return "applied"
    code = report.get("code")
    return f"refused {code}" if isinstance(code, str) and code else "refused"


def versions_rows(answer: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(version, published at, size, report) of each version, as listed (newest first)."""
    rows = []
    for v in answer.get("versions") or []:
        if isinstance(v, dict):
            rows.append(
                (
                    safe_text(v.get("version")),
                    safe_text(v.get("published_at") or ""),
                    safe_text(v.get("size")),
                    safe_text(_report_text(v.get("report"))),
                )
            )
    return rows


def versions(
    directory: DirArgument,
    password_stdin: PasswordStdinOption = False,
    as_json: JsonOption = False,
) -> None:
    """List the cloud's versions (see VERSIONS_HELP)."""
    target = target_of(directory)
    password = read_cloud_password(password_stdin)

    async def run() -> dict[str, Any]:
        context = await _context(target)
        async with cloudversions.CloudVersionsApi(
            target.address, target.installation, password, context=context
        ) as api:
            return await api.versions()

    try:
        answer = asyncio.run(run())
    except Exception as exc:
        raise explain(exc, target) from exc
    if as_json:
        print_json(answer)
        return
    rows = versions_rows(answer)
    if not rows:
        _echo(f"The cloud holds no version for installation {target.installation} yet.")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(title=f"Versions of {target.installation}", title_justify="left")
    for column in ("Version", "Published at", "Size", "Report"):
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    Console(file=sys.stdout, soft_wrap=True).print(table)


def register(app: typer.Typer) -> None:
    """Add ``publish`` and ``versions`` to ``domogate cloud``."""
    app.command("publish", help=PUBLISH_HELP, epilog=PUBLISH_EPILOG)(publish)
    app.command("versions", help=VERSIONS_HELP, epilog=VERSIONS_EPILOG)(versions)
