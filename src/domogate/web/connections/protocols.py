"""uvicorn's HTTP/1.1 and WebSocket protocols, guarded: a deadline on request heads and
bodies, and the connection's slot released exactly once, whichever protocol holds it.

A connection that came through the cloud's relay (its slot's ``relayed_from``) reports
the client's real address as ``scope["client"]`` and sets ``scope["domogate.path"] =
"cloud"`` on every request and WebSocket scope; proxy headers are never applied to it.
Nothing else sets that key: every other connection is ``local``."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import h11
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import Config
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from domogate.web.connections.gate import Slot
from domogate.web.paths import PATH_SCOPE_KEY


class _Relayed:
    """The app as a relayed connection sees it: the client's real address and the path
    ``cloud`` in every scope (set after uvicorn built it, so nothing the client sent
    counts), and no proxy headers (a relayed client's address may look trusted)."""

    def __init__(self, app: Any, client: tuple[str, int]) -> None:
        while isinstance(app, ProxyHeadersMiddleware):
            app = app.app
        self.app: ASGIApp = app
        self.client = client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        scope["client"] = self.client
        scope[PATH_SCOPE_KEY] = "cloud"
        await self.app(scope, receive, send)


def _mark_relayed(protocol: H11Protocol | WebSocketsSansIOProtocol, slot: Slot | None) -> None:
    if slot is not None and slot.relayed_from is not None:
        protocol.client = slot.relayed_from
        protocol.app = _Relayed(protocol.app, slot.relayed_from)


class GuardedH11Protocol(H11Protocol):
    """uvicorn's HTTP/1.1 protocol with a deadline on request heads."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        slot: Slot | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.slot = slot
        if slot is not None and self.ws_protocol_class is not None:
            self.ws_protocol_class = functools.partial(  # type: ignore[assignment]
                GuardedWebSocketProtocol, slot=slot
            )

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if self.slot is not None:
            self.slot.transport = transport
            self.slot.task = None
        super().connection_made(transport)
        _mark_relayed(self, self.slot)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.slot is not None:
                self.slot.release()

    def data_received(self, data: bytes) -> None:
        waiting_for_head = self.conn.their_state is h11.IDLE
        super().data_received(data)
        slot = self.slot
        if slot is None:
            return
        if self.transport.get_protocol() is not self:
            # Upgraded to a WebSocket: h11 still sits in SEND_BODY (uvicorn never reads the
            # upgrade request's end of message), which is no body to wait for; the
            # WebSocket's own pings keep it alive from here.
            slot.head_done()
            slot.body_done()
            return
        state = self.conn.their_state
        if state is not h11.IDLE:  # a request head is complete
            slot.head_done()
            if state is h11.SEND_BODY:  # its body must keep coming, read or not
                slot.body_progress(len(data))
            else:
                slot.body_done()
        elif waiting_for_head and data:
            slot.body_done()
            slot.arm()  # a head has begun: it must finish in time


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol that releases its connection's slot."""

    def __init__(
        self,
        config: Config,
        server_state: ServerState,
        app_state: dict[str, Any],
        _loop: asyncio.AbstractEventLoop | None = None,
        *,
        slot: Slot | None = None,
    ) -> None:
        super().__init__(config, server_state, app_state, _loop)
        self.slot = slot
        # websockets logs every frame, payload included, when its logger is at DEBUG:
        # sign-in tokens, the cloud's hello with its password. Never.
        self.conn.debug = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        _mark_relayed(self, self.slot)

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.slot is not None:
                self.slot.release()
