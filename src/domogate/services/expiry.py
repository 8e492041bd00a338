"""The background job of the server: OTPs finished when they expire, sessions forgotten
after their end, audit retention.

It sleeps until the next OTP expiry and wakes up when the client list changes (a new OTP
may expire sooner than the one it was waiting for), at most every 0.2 s. Live connections
are not its business: their deadlines are kept by :class:`~domogate.services.auth.AuthService`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domogate.services.auth import AuthService
from domogate.services.clients import ClientsService
from domogate.services.deps import Deps
from domogate.services.events import ClientsChanged, Event

log = logging.getLogger(__name__)


class ExpiryJob:
    def __init__(self, deps: Deps, clients: ClientsService, auth: AuthService) -> None:
        self._d = deps
        self._clients = clients
        self._auth = auth
        self._stop = asyncio.Event()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is not None:
            return
        self._stop.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Stop it between two rounds (never in the middle of a query)."""
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
            self._task = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ClientsChanged):
            self._wake.set()

    async def _run(self) -> None:
        d = self._d
        unsubscribe = d.events.subscribe(self._on_event)
        next_prune = 0.0
        try:
            while not self._stop.is_set():
                self._wake.clear()
                try:
                    await self._clients.expire_due()
                    self._auth.purge_expired()
                    if d.clock.monotonic() >= next_prune:  # audit retention, hourly
                        next_prune = d.clock.monotonic() + 3600
                        await d.audit.prune(d.settings.audit_retention, d.settings.max_audit_events)
                    nxt = await self._clients.next_expiry()
                    delay = 30.0
                    if nxt is not None:
                        delay = min(delay, max(0.2, (nxt - d.clock.now()).total_seconds()))
                except Exception:
                    log.exception("expiry check failed")
                    delay = 5.0
                await _first_of(self._stop, self._wake, delay)
                await _first_of(self._stop, asyncio.Event(), 0.2)  # never more often than this
        finally:
            unsubscribe()


async def _first_of(a: asyncio.Event, b: asyncio.Event, seconds: float) -> None:
    """Wait until ``a`` or ``b`` is set, or ``seconds`` have passed."""
    waits = [asyncio.ensure_future(a.wait()), asyncio.ensure_future(b.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()
        await asyncio.gather(*waits, return_exceptions=True)
