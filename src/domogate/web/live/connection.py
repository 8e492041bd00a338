"""One live connection: a bounded send queue that costs nothing while idle (no queue, no
task), and closes a client that cannot keep up (4429, told why)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import deque
from collections.abc import Coroutine
from typing import Any, Protocol

from domogate.errors import DomogateError
from domogate.services.context import Caller
from domogate.services.watch import Watch
from domogate.web.errors import WS_CLOSE
from domogate.web.live.transport import Disconnected, RawSocket

log = logging.getLogger(__name__)


class AccessHub(Protocol):
    def account_changed(self, conn: Connection, before: Caller, announce: bool) -> None: ...


_CLOSE = "close"


class Connection:
    """One signed-in client: a bounded send queue, drained by a task only while it holds
    messages. It holds its session as an :class:`~domogate.services.watch.AccessListener`:
    the services tell it when its access ends or its account changes."""

    __slots__ = ("caller", "closing", "hub", "limit", "queue", "sender", "socket", "watch")

    def __init__(
        self, socket: RawSocket, caller: Caller, limit: int, hub: AccessHub | None = None
    ) -> None:
        self.socket = socket
        self.caller = caller
        self.limit = limit
        self.hub = hub
        self.watch: Watch | None = None
        self.queue: deque[Any] | None = None  # created on demand: idle clients hold none
        self.closing = False
        self.sender: asyncio.Task[None] | None = None

    @property
    def group(self) -> str:
        return self.caller.user.group

    @property
    def device_id(self) -> str:
        return self.caller.session.device_id

    @property
    def is_admin(self) -> bool:
        return self.caller.user.admin

    # --- told by the services (AccessListener) ------------------------------------------

    def access_ended(self, error: DomogateError) -> None:
        self.watch = None
        self.close(WS_CLOSE.get(error.code, 4401), error.code, error.message)

    def access_changed(self, caller: Caller, announce: bool) -> None:
        before = self.caller
        self.caller = caller
        if self.hub is not None and not self.closing:
            self.hub.account_changed(self, before, announce)

    # --- sending --------------------------------------------------------------------------

    def push(self, message: dict[str, Any] | str) -> bool:
        if self.closing:
            return False
        if not self.queue and (self.sender is None or self.sender.done()):
            self._send_now(message if isinstance(message, str) else json.dumps(message))
            return True
        if self.queue is None:
            self.queue = deque()
        elif len(self.queue) >= self.limit:
            self.close(WS_CLOSE["too_slow"], "too_slow", "Too slow to receive updates.")
            return False
        self.queue.append(message)
        self._wake()
        return True

    def close(self, code: int, error_code: str | None = None, message: str = "") -> None:
        if self.closing:
            return
        self.closing = True
        self.queue = deque()  # a closing connection gets no more updates
        if error_code:
            self.queue.append({"type": "error", "error": {"code": error_code, "message": message}})
        self.queue.append((_CLOSE, code, message[:120]))
        self._wake()

    def _send_now(self, text: str) -> None:
        """Send without a task when the transport takes the frame at once (the usual case:
        a fan-out to 1,000 clients then costs no task per client). When the send has to
        wait (a client that does not read), a task finishes it and drains what follows."""
        coro = self.socket.send_text(text)
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        except Exception as exc:  # gone, or a server that refuses to send any more
            if not isinstance(exc, Disconnected):
                log.debug("send failed; treating the client as gone", exc_info=True)
            self.closing = True
            self.queue = None
            return
        if self.queue is None:
            self.queue = deque()
        self.sender = asyncio.get_running_loop().create_task(self._resume(coro, pending))

    async def _resume(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        try:
            await finish_started(coro, pending)
        except Exception:
            self.closing = True
            self.queue = None
            return
        await self._drain()

    def _wake(self) -> None:
        if self.sender is None or self.sender.done():
            self.sender = asyncio.get_running_loop().create_task(self._drain())

    async def _drain(self) -> None:
        socket = self.socket
        try:
            while self.queue:
                item = self.queue.popleft()
                if isinstance(item, tuple):
                    await socket.close(item[1], item[2])
                    return
                await socket.send_text(item if isinstance(item, str) else json.dumps(item))
            self.queue = None  # idle again
        except Exception:  # Disconnected, or a server that refuses to send any more
            self.closing = True
            self.queue = None

    async def finish(self) -> None:
        """Wait (briefly) for what is still queued, e.g. a close with its reason."""
        if self.sender is not None and not self.sender.done():
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.sender, 2)


async def finish_started(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    """Run to its end a coroutine that was stepped by hand and yielded ``pending`` (what a
    task would have waited on: an asyncio future, or None for a bare yield)."""
    while True:
        try:
            if pending is None:
                await asyncio.sleep(0)
            else:
                pending._asyncio_future_blocking = False
                await asyncio.wait([pending])
        except asyncio.CancelledError:
            coro.close()
            raise
        try:
            pending = coro.send(None)
        except StopIteration:
            return
