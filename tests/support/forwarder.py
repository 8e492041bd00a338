"""A real TCP byte forwarder on its own thread, to stand for a path in tests.

``Forwarder(("127.0.0.1", port), host="127.0.0.2")`` listens on ``host`` and copies bytes
to the target, like the relay (it never reads them). ``cut()`` turns it into a black hole
(open connections stop carrying bytes, new ones are accepted and never answered: a Wi-Fi
that is gone); ``restore()`` drops every connection made before and forwards again.
``accepted`` counts the connections it took, so a test sees which path carried one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import threading
from typing import Any


class Forwarder:
    def __init__(
        self,
        target: tuple[str, int],
        host: str = "127.0.0.2",
        *,
        tls_server: ssl.SSLContext | None = None,
    ) -> None:
        self.target = target
        self.host = host
        self.port = 0
        self.tls_server = tls_server  # set: a TLS server itself (an impostor), no target
        self.cutting = False
        self.accepted = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> Forwarder:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0, ssl=self.tls_server)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            if self.cutting or self.tls_server is not None:
                await self._swallow(reader)
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
            finally:
                self._writers.discard(up_writer)
                up_writer.close()
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _swallow(self, reader: asyncio.StreamReader) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            while await reader.read(65536):
                pass

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.cutting:
                    continue  # a black hole: bytes go nowhere, nothing comes back
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    def cut(self) -> None:
        self.cutting = True

    def restore(self) -> None:
        """Forward again; the connections of before the cut are dropped (they died)."""
        self._call(self._drop_all)
        self.cutting = False

    def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _call(self, function: Any) -> None:
        async def run() -> None:
            function()

        asyncio.run_coroutine_threadsafe(run(), self._loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            self._drop_all()

        if self._thread.is_alive():
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()
