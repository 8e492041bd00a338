"""The versions routes of the cloud's API (``docs/cloud-publish.md``):

- ``POST /api/installations/NAME/versions``, body ``{"manifest", "signature", "content"}``
  (each base64url, padding optional) → ``{"installation", "version", "digest", "size"}``;
- ``GET /api/installations/NAME/versions`` → ``{"installation", "versions": [...]}``,
  newest first.

Both take HTTP Basic ``NAME:CLOUD_PASSWORD``. The order of work keeps strangers cheap: a
declared ``Content-Length`` above the limit is refused first (413), then the password is
checked (throttled Argon2id, ``services/cloud/versions.py``), and only then is the body
read (at most :data:`MAX_VERSION_BODY`) and decoded, off the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import weakref
from typing import Any

from starlette.types import Receive, Scope

from domogate.cloud.bodies import read_body
from domogate.core.cloudversions import VersionInfo
from domogate.core.times import iso
from domogate.errors import CloudPasswordInvalid, InvalidInput, MethodNotAllowed, PayloadTooLarge
from domogate.services.cloud.versions import CloudVersions, Upload

PREFIX = "/api/installations/"
SUFFIX = "/versions"
MAX_VERSION_BODY = 96 * 1024 * 1024  # 64 MiB of content in base64, the manifest, JSON
UPLOADS_AT_ONCE = 2  # uploads read and decoded at the same time (memory)
CHALLENGE = b'Basic realm="domogate cloud", charset="UTF-8"'
HOW_TO_AUTH = (
    "Send the installation's cloud password with HTTP Basic auth (user: the installation "
    "name, password: its cloud password)."
)


def route_name(path: str) -> str | None:
    """NAME of ``/api/installations/NAME/versions``, else None."""
    if not (path.startswith(PREFIX) and path.endswith(SUFFIX)):
        return None
    name = path[len(PREFIX) : -len(SUFFIX)]
    return name if name and "/" not in name else None


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def basic_credentials(scope: Scope) -> tuple[str, str]:
    """``(user, password)`` of an ``Authorization: Basic`` header."""
    given = _header(scope, b"authorization") or b""
    scheme, _, token = given.partition(b" ")
    if scheme.lower() != b"basic":
        raise CloudPasswordInvalid(HOW_TO_AUTH)
    try:
        user, colon, password = (
            base64.b64decode(token.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise CloudPasswordInvalid(HOW_TO_AUTH) from exc
    if not colon:
        raise CloudPasswordInvalid(HOW_TO_AUTH)
    return user, password


def _declared_length(scope: Scope) -> int | None:
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError as exc:
        raise InvalidInput("Content-Length must be a number.") from exc


def b64url_decode(text: Any, field: str) -> bytes:
    """Strict base64url (``-`` and ``_``; padding optional)."""
    if not isinstance(text, str):
        raise InvalidInput(f"{field} must be a base64url string.", field=field)
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"{field} is not base64url.", field=field) from exc


def parse_upload(body: bytes) -> Upload:
    """The publish body, decoded (CPU work on tens of MiB: called in a thread)."""
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise InvalidInput('The body must be JSON: {"manifest", "signature", "content"}.') from exc
    if not isinstance(data, dict) or set(data) != {"manifest", "signature", "content"}:
        raise InvalidInput('The body must be {"manifest", "signature", "content"} (base64url).')
    return Upload(
        manifest=b64url_decode(data["manifest"], "manifest"),
        signature=b64url_decode(data["signature"], "signature"),
        content=b64url_decode(data["content"], "content"),
    )


def version_json(info: VersionInfo) -> dict[str, Any]:
    report = info.report
    return {
        "version": info.version,
        "digest": info.digest,
        "size": info.size,
        "published_at": info.published_at,
        "publisher_key_fingerprint": info.publisher_key_fingerprint,
        "report": None
        if report is None
        else {
            "applied": report.applied,
            "code": report.code,
            "message": report.message,
            "at": iso(report.at),
        },
    }


_UPLOADS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)  # one per event loop (a cloud process has one; tests may run several)


async def handle(
    versions: CloudVersions, scope: Scope, receive: Receive, name: str
) -> tuple[int, Any]:
    method = scope["method"]
    if method not in ("GET", "POST"):
        raise MethodNotAllowed()
    if method == "POST" and (_declared_length(scope) or 0) > MAX_VERSION_BODY:
        raise PayloadTooLarge(f"The request body is larger than {MAX_VERSION_BODY} bytes.")
    user, password = basic_credentials(scope)
    if user.strip().lower() != name.strip().lower():
        raise InvalidInput(
            "The Basic auth user must be the installation name of the path.", field="user"
        )
    client = scope.get("client")
    source = str(client[0]) if client else None
    publisher = await versions.authenticate(name, password, source)
    if method == "GET":
        listed = await versions.list(publisher)
        return 200, {
            "installation": publisher.installation,
            "versions": [version_json(v) for v in listed],
        }
    # Uploads are read and decoded one at a time per cloud (each may hold a few hundred
    # MiB while it is decoded): many at once would be the cloud's memory, not one's own.
    uploads = _UPLOADS.setdefault(asyncio.get_running_loop(), asyncio.Semaphore(UPLOADS_AT_ONCE))
    async with uploads:
        body = await read_body(receive, MAX_VERSION_BODY)
        upload = await asyncio.to_thread(parse_upload, body)
        del body
        published = await versions.publish(publisher, upload)
    return 200, {
        "installation": published.installation,
        "version": published.version,
        "digest": published.digest,
        "size": published.size,
    }
