"""Assembly of the web adapter: ``create_app(settings, services)``."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.routing import WebSocketRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domogate import __version__
from domogate.services.container import Services
from domogate.settings import ServerSettings
from domogate.web import errors
from domogate.web.api import build_router
from domogate.web.limits import BodyLimit, SessionGate
from domogate.web.live import LIVE_PATH, LiveFirst, LiveHub
from domogate.web.maintenance import build_maintenance_router
from domogate.web.origins import OriginGuard, OwnOrigins, content_security_policy
from domogate.web.static_files import static_router

log = logging.getLogger(__name__)

SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
"""Sent on every answer, with the CSP (``web/origins.py``: its ``connect-src`` names the
server's other own origins, so it is built per request)."""


HSTS = (b"strict-transport-security", b"max-age=31536000")

# Routes that take a body from callers without a session: the ways in, and the deploy
# (authorised by its own header before its body is read).
PUBLIC_WITH_BODY = frozenset(
    {
        "/api/auth/password",
        "/api/auth/otp",
        "/api/auth/challenge",
        "/api/auth/device",
        "/api/deploy",
        "/api/maintenance/session",
    }
)


class SecurityHeaders:
    def __init__(self, app: ASGIApp, *, https: bool, origins: OwnOrigins) -> None:
        self.app = app
        self.origins = origins
        self.headers = SECURITY_HEADERS + ([HSTS] if https else [])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                csp = content_security_policy(self.origins.others(scope))
                message["headers"] = [
                    *message.get("headers", []),
                    (b"content-security-policy", csp),
                    *self.headers,
                ]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class _HubEndpoint:
    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.hub.asgi(scope, receive, send)


def asgi_entry(app: FastAPI) -> ASGIApp:
    """What to give the ASGI server: the app, with the live channel served in front."""
    hub: LiveHub = app.state.hub
    return LiveFirst(app, hub)


def create_app(
    settings: ServerSettings, services: Services, *, run_background: bool = True
) -> FastAPI:
    origins = OwnOrigins(settings, services)
    hub = LiveHub(services, origins)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await services.start()
        if run_background:
            services.expiry.start()
        try:
            yield
        finally:
            await services.expiry.stop()  # never cancelled in the middle of a query
            await hub.close_all()

    app = FastAPI(
        title="domogate",
        version=__version__,
        description="domogate server API. See docs/api.md.",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.hub = hub
    errors.install(app)
    app.include_router(build_router(services))
    app.include_router(build_maintenance_router(services))
    # Reached through LiveFirst in production (see domogate.server.uvicorn_config); this
    # route serves the same endpoint when the app is mounted without it.
    app.router.routes.append(WebSocketRoute(LIVE_PATH, _HubEndpoint(hub)))

    app.include_router(static_router())

    def is_live_token(token: str) -> bool:
        """A live session, or a live maintenance session (its routes check which)."""
        return services.auth.is_live_token(token) or services.maintenance.is_live_token(token)

    # Outermost first: headers on every answer, other origins refused, then bodies
    # bounded, then strangers' bodies refused unread. Callers without a session get small
    # bodies only.
    unauthenticated = {path: settings.max_unauthenticated_body_bytes for path in PUBLIC_WITH_BODY}
    app.add_middleware(SessionGate, is_live_token=is_live_token, public=PUBLIC_WITH_BODY)
    app.add_middleware(
        BodyLimit,
        default=settings.max_body_bytes,
        per_path={**unauthenticated, "/api/deploy": settings.max_deploy_bytes},
    )
    app.add_middleware(OriginGuard, origins=origins)  # other origins: refused, body unread
    app.add_middleware(SecurityHeaders, https=not settings.insecure_http, origins=origins)
    return app
