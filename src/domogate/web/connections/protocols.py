"""uvicorn's HTTP/1.1 and WebSocket protocols, guarded: a deadline on request heads and
bodies, and the connection's slot released exactly once, whichever protocol holds it."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import h11
from uvicorn.config import Config
from uvicorn.protocols.http.h11_impl import H11Protocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from uvicorn.server import ServerState

from domogate.web.connections.gate import Slot


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

    def connection_lost(self, exc: Exception | None) -> None:
        try:
            super().connection_lost(exc)
        finally:
            if self.slot is not None:
                self.slot.release()
