"""The live channel: the WebSocket ``/api/ws`` (docs/api.md).

    async with LiveConnection(api.ws_url, token, ssl_context=api.ssl_context) as conn:
        print(conn.hello)
        async for message in conn:      # dicts, until the server closes
            ...
        print(conn.close_code, conn.close_reason)

The token goes in the first message, never in the URL. The TLS context is the pinned one
of :class:`~domogate.client.api.ServerApi`, so the certificate is checked before the
upgrade request is sent.
"""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from domogate.client.api import safe_error_from_dict
from domogate.client.pinning import MISMATCH_ADVICE, is_verification_failure
from domogate.errors import (
    CertificateMismatch,
    DomogateError,
    Forbidden,
    InvalidInput,
    ServerUnreachable,
    TooManyConnections,
    Unauthenticated,
)

JSON = dict[str, Any]

MAX_MESSAGE_BYTES = 16 * 1024 * 1024

# Close codes of docs/api.md, for errors raised while opening the channel.
_CLOSE_ERRORS: dict[int, type[DomogateError]] = {
    4400: InvalidInput,
    4401: Unauthenticated,
    4403: Forbidden,
    4408: Unauthenticated,
    1013: TooManyConnections,  # the server's socket caps ("try again later")
}


class LiveConnection:
    def __init__(
        self,
        url: str,
        token: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        open_timeout: float = 10,
        dial: tuple[str, int] | None = None,
        server_hostname: str | None = None,
        close_timeout: float = 10,
    ) -> None:
        """``dial`` (host, port) opens TCP somewhere else than the URL's host (the cloud
        path: the relay) with TLS server name ``server_hostname``; the upgrade request's
        ``Host`` stays the URL's."""
        if url.startswith("wss://") and ssl_context is None:
            ssl_context = ssl.create_default_context()
        self.url = url
        self._token = token
        self._ssl = ssl_context if url.startswith("wss://") else None
        self._open_timeout = open_timeout
        self._dial = dial
        self._server_hostname = server_hostname
        self._close_timeout = close_timeout
        self._ws: ClientConnection | None = None
        self.hello: JSON = {}

    # --- opening and closing ----------------------------------------------------------

    async def connect(self) -> JSON:
        """Open the socket, authenticate, and return the server's ``hello``."""
        extra: dict[str, Any] = {}
        if self._dial is not None:
            extra["host"], extra["port"] = self._dial
            if self._ssl is not None and self._server_hostname:
                extra["server_hostname"] = self._server_hostname
        try:
            self._ws = await connect(
                self.url,
                ssl=self._ssl,
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                proxy=None,
                max_size=MAX_MESSAGE_BYTES,
                **extra,
            )
        except InvalidURI as exc:
            raise InvalidInput(f"Not a WebSocket URL: {self.url!r}.") from exc
        except (OSError, TimeoutError, InvalidHandshake, ssl.SSLError) as exc:
            if is_verification_failure(exc):
                raise CertificateMismatch(
                    f"The server at {self.url} presented a certificate that does not match "
                    f"the pinned one; refusing to connect. {MISMATCH_ADVICE}",
                    url=self.url,
                ) from exc
            raise ServerUnreachable(
                f"Cannot open the live channel {self.url}: {exc or exc.__class__.__name__}.",
                url=self.url,
            ) from exc
        try:
            await self.send({"type": "auth", "token": self._token})
            first = await asyncio.wait_for(self._recv_raw(), self._open_timeout)
        except TimeoutError as exc:
            await self.close()
            raise ServerUnreachable(
                f"The server did not greet on {self.url} in time.", url=self.url
            ) from exc
        except ConnectionClosed as exc:
            raise self._closed_error() from exc
        except BaseException:
            await self.close()
            raise
        if first.get("type") == "error" and isinstance(first.get("error"), dict):
            await self.close()
            raise safe_error_from_dict(first["error"])
        if first.get("type") != "hello":
            await self.close()
            kind = first.get("type")
            shown = repr(kind[:80]) if isinstance(kind, str) else "no type"
            raise DomogateError(f"Unexpected first message on {self.url}: {shown}.")
        self.hello = first
        return first

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()

    def abort(self) -> None:
        """Drop the connection at once, without a closing handshake (a dead path)."""
        if self._ws is not None:
            self._ws.transport.abort()

    async def __aenter__(self) -> LiveConnection:
        if self._ws is None:
            await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def close_code(self) -> int | None:
        return None if self._ws is None else self._ws.close_code

    @property
    def close_reason(self) -> str | None:
        return None if self._ws is None else self._ws.close_reason

    # --- messages ---------------------------------------------------------------------

    def _conn(self) -> ClientConnection:
        if self._ws is None:
            raise DomogateError("The live connection is not open; call connect() first.")
        return self._ws

    async def _recv_raw(self) -> JSON:
        raw = await self._conn().recv()
        try:
            message = json.loads(raw)
        except (ValueError, RecursionError) as exc:
            raise DomogateError(
                f"The server sent a message that is not JSON on {self.url}."
            ) from exc
        if not isinstance(message, dict):
            raise DomogateError(f"The server sent an unexpected message on {self.url}.")
        return message

    async def send(self, message: JSON) -> None:
        await self._conn().send(json.dumps(message))

    async def ping(self) -> None:
        """Send the application-level ``{"type": "ping"}`` (the answer arrives as a message)."""
        await self.send({"type": "ping"})

    async def recv(self, wait_s: float | None = None) -> JSON:
        """The next message (``TimeoutError`` after ``wait_s``); websockets'
        ``ConnectionClosed`` when the channel has ended."""
        if wait_s is None:
            return await self._recv_raw()
        return await asyncio.wait_for(self._recv_raw(), wait_s)

    async def __aiter__(self) -> AsyncIterator[JSON]:
        """Messages until the server (or we) close; then see :attr:`close_code`."""
        while True:
            try:
                message = await self._recv_raw()
            except ConnectionClosed:
                return
            yield message

    def _closed_error(self) -> DomogateError:
        code = self.close_code
        reason = self.close_reason or ""
        cls = _CLOSE_ERRORS.get(code or 0)
        if cls is None:
            return ServerUnreachable(
                f"The server closed the live channel {self.url} (code {code}) {reason}".strip()
                + ".",
                url=self.url,
                close_code=code,
            )
        return cls(reason or None, close_code=code)
