"""The live channel's transport: WebSocket operations straight on ASGI, and the outermost
ASGI layer that sends ``/api/ws`` to the hub before any framework sees it."""

from __future__ import annotations

import contextlib
from typing import Protocol

from starlette.types import ASGIApp, Receive, Scope, Send

from domogate.errors import InvalidInput

LIVE_PATH = "/api/ws"
WS_MAX_MESSAGE = 64 * 1024  # transport limit for one client message (uvicorn ws_max_size)


class Disconnected(Exception):
    """The client went away."""


class RawSocket:
    """The few WebSocket operations the live channel needs, straight on ASGI."""

    __slots__ = ("closed", "receive", "send")

    def __init__(self, receive: Receive, send: Send) -> None:
        self.receive = receive
        self.send = send
        self.closed = False

    async def receive_text(self) -> str:
        """The next text message; binary frames are a protocol error (``InvalidInput``)."""
        message = await self.receive()
        if message["type"] == "websocket.disconnect":
            self.closed = True
            raise Disconnected
        text = message.get("text")
        if text is None:
            raise InvalidInput("Messages must be JSON text frames.")
        return str(text)

    async def send_text(self, text: str) -> None:
        if self.closed:
            raise Disconnected
        try:
            await self.send({"type": "websocket.send", "text": text})
        except OSError as exc:  # uvicorn: the peer is gone
            self.closed = True
            raise Disconnected from exc

    async def close(self, code: int, reason: str = "") -> None:
        if self.closed:
            return
        self.closed = True
        with contextlib.suppress(Exception):
            await self.send({"type": "websocket.close", "code": code, "reason": reason})


class LiveEndpoint(Protocol):
    """What :class:`LiveFirst` needs of the live hub (``hub.LiveHub``; a protocol here so
    that the transport does not import the hub, which imports the transport)."""

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None: ...


class LiveFirst:
    """Outermost ASGI layer: ``/api/ws`` goes straight to the live hub, everything else to
    the FastAPI app (whose middleware would otherwise stay on every idle connection)."""

    def __init__(self, app: ASGIApp, hub: LiveEndpoint) -> None:
        self.app = app
        self.hub = hub

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket" and scope["path"] == LIVE_PATH:
            await self.hub.asgi(scope, receive, send)
        else:
            await self.app(scope, receive, send)
