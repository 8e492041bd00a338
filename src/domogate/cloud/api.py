"""The cloud's API, a raw ASGI app (no framework: an idle control link must stay cheap):

- ``GET /api/info`` → ``{"zone", "fingerprint", "url", "version"}``;
- ``GET /api/link`` (WebSocket): the control link (``cloud/links.py``);
- ``POST /api/operator/release`` ``{"name": NAME}`` with ``Authorization: Bearer TOKEN``
  (the data folder's ``operator.token``): release an installation and end its live link.
  ``domogate cloud installations release`` calls it on the running cloud; the token never
  leaves the machine that holds the data folder;
- ``POST /api/installations/NAME/versions`` and ``GET …/versions`` with HTTP Basic
  ``NAME:CLOUD_PASSWORD``: publish a version, list them (``versions_api.py``,
  ``docs/cloud-publish.md``). The password is checked before the body is read; that body
  may have up to 96 MiB (every other route: 4 KiB), beyond is ``payload_too_large`` (413).

Errors are ``{"error": {"code", "message"}}`` with the error class's HTTP status;
``rate_limited`` also sets ``Retry-After``, a refused password ``WWW-Authenticate``.
"""

from __future__ import annotations

import hmac
import json
from typing import Any

from starlette.types import Receive, Scope, Send

from domogate import __version__
from domogate.cloud import versions_api
from domogate.cloud.bodies import read_body
from domogate.cloud.links import LINK_PATH, LinkHub
from domogate.errors import (
    CloudPasswordInvalid,
    DomogateError,
    InvalidInput,
    MethodNotAllowed,
    NotFound,
    RateLimited,
    Unauthenticated,
)
from domogate.services.cloud.versions import CloudVersions

INFO_PATH = "/api/info"
RELEASE_PATH = "/api/operator/release"
MAX_BODY = 4096
Headers = list[tuple[bytes, bytes]]


class CloudApi:
    """The ASGI app of ``domogate cloud serve``."""

    def __init__(self, hub: LinkHub, versions: CloudVersions, *, operator_token: str) -> None:
        self.hub = hub
        self.versions = versions
        self._token = operator_token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "websocket":
            if scope["path"] == LINK_PATH:
                await self.hub.asgi(scope, receive, send)
            else:
                await send({"type": "websocket.close", "code": 4404})
            return
        if kind != "http":
            return  # lifespan: serve.py starts and stops what the app uses
        headers: Headers = []
        try:
            status, body = await self._http(scope, receive)
        except DomogateError as exc:
            status, body = exc.http_status or 500, {"error": exc.to_dict()}
            if isinstance(exc, RateLimited):
                headers.append((b"retry-after", str(exc.retry_after).encode()))
            if isinstance(exc, CloudPasswordInvalid):
                headers.append((b"www-authenticate", versions_api.CHALLENGE))
        await _respond(send, status, body, headers)

    async def _http(self, scope: Scope, receive: Receive) -> tuple[int, Any]:
        path, method = scope["path"], scope["method"]
        name = versions_api.route_name(path)
        if name is not None:
            return await versions_api.handle(self.versions, scope, receive, name)
        if path == INFO_PATH:
            if method not in ("GET", "HEAD"):
                raise MethodNotAllowed()
            config = self.hub.config
            return 200, {
                "zone": config.zone,
                "fingerprint": self.hub.fingerprint,
                "url": config.url,
                "version": __version__,
            }
        if path == RELEASE_PATH:
            if method != "POST":
                raise MethodNotAllowed()
            self._authorise(scope)
            data = await _json_body(receive)
            name = data.get("name") if isinstance(data, dict) else None
            if not isinstance(name, str):
                raise InvalidInput('Send {"name": NAME}.', field="name")
            await self.hub.installations.release(name)
            was_linked = await self.hub.released(name.strip().lower())
            return 200, {"name": name.strip().lower(), "was_linked": was_linked}
        raise NotFound(f"No route {path}.")

    def _authorise(self, scope: Scope) -> None:
        given = b""
        for key, value in scope.get("headers", ()):
            if key == b"authorization":
                given = bytes(value)
        scheme, _, token = given.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(token.strip(), self._token):
            raise Unauthenticated("The operator token is missing or wrong.")


async def _json_body(receive: Receive) -> Any:
    raw = await read_body(receive, MAX_BODY)
    try:
        return json.loads(raw or b"null")
    except ValueError as exc:
        raise InvalidInput("The body must be JSON.") from exc


async def _respond(send: Send, status: int, body: Any, extra: Headers) -> None:
    payload = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(payload)).encode()),
        (b"cache-control", b"no-store"),
        *extra,
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
