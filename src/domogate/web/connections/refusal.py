"""Refusing a connection over the caps: ``503`` with ``too_many_connections`` and
``Retry-After``, after its TLS handshake and request head (bounded in time and size)."""

from __future__ import annotations

import asyncio
import json
from typing import cast

from domogate.errors import TooManyConnections

REFUSAL_TIMEOUT_S = 3.0  # a refused client gets this long for its handshake and head
REFUSAL_LINGER_S = 0.5  # after the 503, time for the client to read it and close
REFUSAL_HEAD_MAX = 16 * 1024
RETRY_AFTER_S = 5


def refusal_response(retry_after: int = RETRY_AFTER_S) -> bytes:
    error = TooManyConnections(
        f"Too many connections to this server from your address or in total; "
        f"try again in {retry_after} s."
    )
    body = json.dumps({"error": error.to_dict()}).encode()
    head = (
        "HTTP/1.1 503 Service Unavailable\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        f"retry-after: {retry_after}\r\n"
        "cache-control: no-store\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class RefusalProtocol(asyncio.Protocol):
    """Reads one request head (bounded), answers 503, closes."""

    def __init__(self, response: bytes) -> None:
        self.response = response
        self.buffer = b""
        self.answered = False
        self.transport: asyncio.Transport | None = None
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        if self.answered or self.transport is None:
            return  # the rest of the request: read and dropped
        self.buffer += data
        if b"\r\n\r\n" in self.buffer or len(self.buffer) > REFUSAL_HEAD_MAX:
            self.answered = True
            self.buffer = b""
            self.transport.write(self.response)
            asyncio.get_running_loop().call_later(REFUSAL_LINGER_S, self.transport.close)

    def eof_received(self) -> bool | None:
        return None  # close

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.done.done():
            self.done.set_result(None)
