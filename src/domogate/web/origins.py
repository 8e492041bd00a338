"""The origins this server calls its own, and the ASGI layer that holds browsers to them.

A browser page may use the REST API and the live channel only from one of the server's
own origins (docs/cloud-browser.md):

- the origin of the request itself (its scheme and ``Host``, on whichever path it came);
- its local origins: the listen URL's (unless it listens on every address) and the
  project's ``server.address``/``server.port``;
- its cloud origin, ``services.cloud.url``, while the link is up.

A request that carries an ``Origin`` header naming any other origin is refused with
``403 origin_refused`` before its body is read (:class:`OriginGuard`; the live channel's
handshake is refused the same way by the hub). Requests without ``Origin`` (the Python
client, curl) are not concerned. Answers under ``/api/`` to an allowed origin carry the
CORS headers (bearer tokens only: no credentials), and the page's CSP ``connect-src``
lists the other own origins (:func:`content_security_policy`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domogate.errors import OriginRefused
from domogate.services.container import Services
from domogate.settings import ServerSettings
from domogate.web.limits import send_error

log = logging.getLogger(__name__)

_DEFAULT_PORTS = {"http": 80, "https": 443}
_WILDCARD_HOSTS = frozenset({"0.0.0.0", "::", "[::]", ""})  # noqa: S104 (names, not a bind)
CORS_METHODS = b"GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = b"Authorization, Content-Type"
CORS_EXPOSED = b"Date, Retry-After"
CORS_MAX_AGE = b"600"
API_PREFIX = "/api/"


# --- pure rules -------------------------------------------------------------------------


def origin_of(scheme: str, host: str) -> str | None:
    """``scheme://host[:port]`` in the form browsers send as ``Origin`` (lower case, no
    default port), or None when ``host`` is not a host[:port]. ``ws``/``wss`` count as
    ``http``/``https``."""
    scheme = {"ws": "http", "wss": "https"}.get(scheme.lower(), scheme.lower())
    if scheme not in _DEFAULT_PORTS or not host:
        return None
    return normalise(f"{scheme}://{host}")


def normalise(origin: str) -> str | None:
    """An ``Origin`` value in canonical form, or None when it is not a plain http(s)
    origin (``null``, a path, credentials, a bad port)."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if (
        parts.scheme not in _DEFAULT_PORTS
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
    ):
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[parts.scheme]:
        host = f"{host}:{port}"
    return f"{parts.scheme}://{host}"


def base_origin(url: str | None) -> str | None:
    """The origin of a base URL (``https://h:p/…`` → ``https://h:p``)."""
    if not url:
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    return normalise(f"{parts.scheme}://{parts.netloc}") if parts.netloc else None


def content_security_policy(others: Iterable[str]) -> bytes:
    """The page's CSP; ``connect-src`` lets it reach the server's other own origins
    (https and wss forms)."""
    extra = ""
    for origin in others:
        extra += (
            f" {origin} {origin.replace('https://', 'wss://', 1).replace('http://', 'ws://', 1)}"
        )
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        f"connect-src 'self'{extra}; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ).encode()


def header(scope: Mapping[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", []):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


# --- the server's own origins -----------------------------------------------------------


REFUSAL_LOG_EVERY_S = 60.0


class OwnOrigins:
    """The origins of this server at this moment (the project and the cloud link move)."""

    def __init__(self, settings: ServerSettings, services: Services) -> None:
        self.settings = settings
        self.services = services
        self._logged_at = -REFUSAL_LOG_EVERY_S  # refusals: one log line a minute at most
        self._unlogged = 0

    def fixed(self) -> list[str]:
        """Local and cloud origins, whatever the request: listen URL (unless a wildcard),
        the advertised local URL (what join links carry), the project's
        ``server.address:port``, the cloud URL while linked."""
        found: list[str | None] = []
        if self.settings.host not in _WILDCARD_HOSTS:
            found.append(base_origin(self.settings.local_url()))
        # the address join links carry (--advertise, the LAN address: services/addresses.py)
        found.append(base_origin(self.services.local_url()))
        project = self.services.project.project
        if project is not None and project.server.address not in _WILDCARD_HOSTS:
            address = project.server.address
            host = f"[{address}]" if ":" in address and not address.startswith("[") else address
            found.append(origin_of(self.settings.scheme, f"{host}:{project.server.port}"))
        found.append(base_origin(self.services.cloud.url))
        unique: list[str] = []
        for origin in found:
            if origin is not None and origin not in unique:
                unique.append(origin)
        return unique

    @staticmethod
    def of_request(scope: Mapping[str, Any]) -> str | None:
        """The request's own origin: its scheme and ``Host`` header."""
        host = header(scope, b"host")
        return origin_of(str(scope.get("scheme", "http")), host) if host else None

    def allows(self, origin: str, scope: Mapping[str, Any]) -> bool:
        canonical = normalise(origin)
        if canonical is None:
            return False
        return canonical == self.of_request(scope) or canonical in self.fixed()

    def others(self, scope: Mapping[str, Any]) -> list[str]:
        """The own origins other than the request's (for the page's ``connect-src``)."""
        own = self.of_request(scope)
        return [origin for origin in self.fixed() if origin != own]

    def refused(self, scope: Mapping[str, Any]) -> str | None:
        """The request's ``Origin`` when it is present and not allowed, else None."""
        origin = header(scope, b"origin")
        if origin is None or self.allows(origin, scope):
            return None
        now = time.monotonic()
        if now - self._logged_at < REFUSAL_LOG_EVERY_S:
            self._unlogged += 1  # a flood costs the stranger requests, not our log
            return origin
        more = f" (and {self._unlogged} more refused since)" if self._unlogged else ""
        self._logged_at, self._unlogged = now, 0
        log.warning(
            "refused %s %s from origin %r (not one of this server's own)%s",
            scope.get("method", "WEBSOCKET"),
            scope.get("path"),
            origin[:200],
            more,
        )
        return origin


# --- the ASGI layer ---------------------------------------------------------------------


class OriginGuard:
    """Refuses requests from other origins (403 ``origin_refused``, body unread), answers
    CORS preflights under ``/api/`` for own origins, and adds the CORS headers to their
    answers. Requests without ``Origin`` pass untouched."""

    def __init__(self, app: ASGIApp, origins: OwnOrigins) -> None:
        self.app = app
        self.origins = origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        origin = header(scope, b"origin")
        if origin is None:
            await self.app(scope, receive, send)
            return
        if self.origins.refused(scope) is not None:
            await send_error(send, 403, OriginRefused())
            return
        if not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        cors = [
            (b"access-control-allow-origin", origin.strip().encode("latin-1")),
            (b"vary", b"Origin"),
        ]
        if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
            await send(
                {
                    "type": "http.response.start",
                    "status": 204,
                    "headers": [
                        *cors,
                        (b"access-control-allow-methods", CORS_METHODS),
                        (b"access-control-allow-headers", CORS_HEADERS),
                        (b"access-control-max-age", CORS_MAX_AGE),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = [*cors, (b"access-control-expose-headers", CORS_EXPOSED)]
                message["headers"] = list(message.get("headers", [])) + extra
            await send(message)

        await self.app(scope, receive, send_with_cors)
