"""A live channel that follows the connection policy across paths (``domogate watch``).

:class:`LiveFollower` yields the server's messages from one *primary* live connection and
hides path changes:

- every open path is pinged every 0.5 s; a path that answered nothing for 1.5 s is dead;
- with ``local_and_cloud`` the other path is kept warm as a second signed-in live
  connection: it receives the same pushes, so it is known to work end to end (TLS, the
  relay, the session) and it holds the current states; it is not read by the caller;
- when the primary dies, the warm one becomes primary at once (within 2 s of the cut);
  states are read again (the warm channel's, else ``GET /api/states``) and every object
  whose state differs from what the caller last saw is yielded as a ``state`` message, so
  no change is lost;
- while on cloud, local is retried every ``back_to_local_probe_s`` (config ``settings``,
  default 10 s); once it has answered pings for 1 s the primary goes back to local;
- with one path (policy ``local`` or ``cloud``, or ``--path``), a dead primary is opened
  again on that path (capped backoff with jitter).

Errors the server sends (revocation, an ended session: close codes 4xxx) end the follower;
only a dead path is failed over.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from websockets.exceptions import ConnectionClosed

from domogate.client.api import JSON
from domogate.client.config import ClientConfig
from domogate.client.live import LiveConnection
from domogate.client.session import SignedIn, sign_in
from domogate.core.paths import (
    DEAD_AFTER_S,
    LOCAL,
    LOCAL_STABLE_S,
    PING_INTERVAL_S,
    Plan,
    other,
)
from domogate.errors import CertificateMismatch, DomogateError, ServerUnreachable

TICK_S = 0.1
BACKOFF_MAX_S = 5.0
CLOSE_TIMEOUT_S = 1.0
PROBE_TIMEOUT_S = 5.0  # an attempt to open the warm path gives up after this


@dataclass(eq=False)
class Channel:
    """One signed-in live connection on one path, read by its own task."""

    session: SignedIn
    live: LiveConnection
    clock: Callable[[], float]
    opened_at: float
    last_heard: float
    queue: asyncio.Queue[JSON | None] = field(default_factory=asyncio.Queue)
    states: dict[str, Any] | None = None
    closed: bool = False
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def path(self) -> str:
        return self.session.via

    def alive(self) -> bool:
        return not self.closed and self.clock() - self.last_heard <= DEAD_AFTER_S

    def start(self) -> None:
        self.tasks = [
            asyncio.create_task(self._read()),
            asyncio.create_task(self._ping()),
            asyncio.create_task(self._renew()),
        ]

    async def _read(self) -> None:
        try:
            while True:
                message = await self.live.recv()
                self.last_heard = self.clock()
                kind = message.get("type")
                if kind == "pong":
                    continue
                if kind == "hello":
                    self.live.hello = message
                if kind == "states" and isinstance(message.get("states"), dict):
                    self.states = dict(message["states"])
                elif kind == "state" and self.states is not None:
                    self.states[str(message.get("object"))] = message.get("state")
                await self.queue.put(message)
        except (ConnectionClosed, OSError, DomogateError):
            pass
        finally:
            self.closed = True
            await self.queue.put(None)

    async def _ping(self) -> None:
        while not self.closed:
            with contextlib.suppress(ConnectionClosed, OSError, DomogateError):
                await self.live.ping()
            await asyncio.sleep(PING_INTERVAL_S)

    async def _renew(self) -> None:
        """Sign in again on this path before the session ends; the channel takes the new
        token (docs/api.md, live step 6)."""
        while not self.closed:
            await asyncio.sleep(_until_renewal(self.live.hello))
            with contextlib.suppress(DomogateError):
                fresh = await sign_in(self.session.config, plan=Plan((self.path,), forced=True))
                try:
                    await self.live.send({"type": "auth", "token": fresh.token})
                    self.session.api.token = fresh.token
                finally:
                    await fresh.aclose(logout=False)

    def server_closed_error(self) -> DomogateError | None:
        """The server's own refusal (close code 4xxx), which no other path can cure."""
        code = self.live.close_code
        if code is not None and 4000 <= code < 5000:
            return self.live._closed_error()
        return None

    async def close(self, *, dead: bool) -> None:
        self.closed = True
        for task in self.tasks:
            task.cancel()
        if dead:
            self.live.abort()
            await self.session.aclose(logout=False)
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.live.close(), CLOSE_TIMEOUT_S)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.session.aclose(), CLOSE_TIMEOUT_S)


def _until_renewal(hello: JSON) -> float:
    session = hello.get("session")
    raw = session.get("expires_at") if isinstance(session, dict) else None
    try:
        when = datetime.fromisoformat(str(raw))
    except ValueError:
        return 3600.0
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    return max(1.0, (when - datetime.now(UTC)).total_seconds() - 60)


SwitchNote = Callable[[str, str | None, str], None]
"""``note(new_path, old_path, why)`` when the primary changes."""


class LiveFollower:
    """Messages of the server's live channel on the best path (see the module's doc)."""

    def __init__(
        self,
        config: ClientConfig,
        plan: Plan,
        *,
        on_switch: SwitchNote | None = None,
        clock: Callable[[], float] = time.monotonic,
        request_timeout: float = 10,
    ) -> None:
        self.config = config
        self.plan = plan
        self.on_switch = on_switch
        self.clock = clock
        self.request_timeout = request_timeout
        self.probe_local_s = config.settings.back_to_local_probe_s
        self.primary: Channel | None = None
        self.warm: Channel | None = None
        self.known: dict[str, Any] = {}  # object id -> the state the caller last saw
        self._keeper: asyncio.Task[None] | None = None
        self.switches = 0

    @property
    def session(self) -> SignedIn:
        """The primary's session (its API client follows the path too)."""
        assert self.primary is not None
        return self.primary.session

    @property
    def two_paths(self) -> bool:
        return len(self.plan.paths) > 1

    # --- opening ------------------------------------------------------------------------

    async def _open(self, plan: Plan, *, request_timeout: float | None = None) -> Channel:
        session = await sign_in(
            self.config, plan=plan, request_timeout=request_timeout or self.request_timeout
        )
        live = session.live(close_timeout=CLOSE_TIMEOUT_S)
        try:
            await live.connect()
        except BaseException:
            await session.aclose(logout=False)
            raise
        now = self.clock()
        channel = Channel(session, live, self.clock, opened_at=now, last_heard=now)
        channel.start()
        return channel

    async def start(self) -> JSON:
        """Open the primary (happy eyeballs) and, with two paths, start keeping the other
        one warm. Returns the primary's ``hello``."""
        self.primary = await self._open(self.plan)
        if self.two_paths:
            self._keeper = asyncio.create_task(self._keep_warm())
        return self.primary.live.hello

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
            with contextlib.suppress(BaseException):
                await self._keeper
        for channel in (self.warm, self.primary):
            if channel is not None:
                await channel.close(dead=not channel.alive())
        self.warm = self.primary = None

    async def __aenter__(self) -> LiveFollower:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- the warm path ------------------------------------------------------------------

    async def _keep_warm(self) -> None:
        """Keep a live connection open on the path that is not primary: at once for cloud,
        every ``probe_local_s`` for local (the back-to-local probe)."""
        backoff = 0.25
        while True:
            primary = self.primary
            if primary is None:
                return
            want = other(primary.path)
            if self.warm is not None and (self.warm.path != want or not self.warm.alive()):
                stale, self.warm = self.warm, None
                await stale.close(dead=not stale.alive())
            if self.warm is None:
                try:
                    channel = await self._open(
                        Plan((want,), forced=True), request_timeout=PROBE_TIMEOUT_S
                    )
                except (ServerUnreachable, OSError, TimeoutError):
                    await asyncio.sleep(self.probe_local_s if want == LOCAL else backoff)
                    backoff = min(BACKOFF_MAX_S, backoff * 2)
                    continue
                if self.primary is None or other(self.primary.path) != want:
                    await channel.close(dead=False)
                    continue
                self.warm = channel
                backoff = 0.25
            await asyncio.sleep(TICK_S)

    # --- reading ------------------------------------------------------------------------

    async def __aiter__(self) -> AsyncIterator[JSON]:
        getter: asyncio.Task[JSON | None] | None = None
        try:
            while True:
                primary = self.primary
                assert primary is not None
                if getter is None:
                    getter = asyncio.create_task(primary.queue.get())
                done, _ = await asyncio.wait({getter}, timeout=TICK_S)
                if done:
                    message = getter.result()
                    getter = None
                    if message is not None:
                        self._track(message)
                        yield message
                        continue
                if not primary.alive():
                    refusal = primary.server_closed_error()
                    if refusal is not None:
                        raise refusal
                    if getter is not None:
                        getter.cancel()
                        getter = None
                    async for message in self._fail_over(primary):
                        yield message
                elif self._local_is_back(primary):
                    if getter is not None:
                        getter.cancel()
                        getter = None
                    assert self.warm is not None
                    async for message in self._switch(self.warm, "local answers again"):
                        yield message
        finally:
            if getter is not None:
                getter.cancel()

    def _track(self, message: JSON) -> None:
        kind = message.get("type")
        if kind == "states" and isinstance(message.get("states"), dict):
            self.known = dict(message["states"])
        elif kind == "state":
            self.known[str(message.get("object"))] = message.get("state")

    def _local_is_back(self, primary: Channel) -> bool:
        warm = self.warm
        return (
            primary.path != LOCAL
            and warm is not None
            and warm.path == LOCAL
            and warm.alive()
            and self.clock() - warm.opened_at >= LOCAL_STABLE_S
        )

    async def _fail_over(self, dead: Channel) -> AsyncIterator[JSON]:
        warm = self.warm
        if warm is not None and warm.alive():
            async for message in self._switch(warm, f"the {dead.path} path stopped answering"):
                yield message
            return
        # No warm path: open again (any path of the plan), capped backoff with jitter.
        self.primary = None
        await dead.close(dead=True)
        backoff = 0.25
        while True:
            try:
                channel = await self._open(self.plan)
                break
            except CertificateMismatch:
                raise
            except (ServerUnreachable, OSError, TimeoutError):
                await asyncio.sleep(backoff * (0.5 + random.random()))  # noqa: S311 (jitter)
                backoff = min(BACKOFF_MAX_S, backoff * 2)
        self.primary = channel
        self.switches += 1
        if self.on_switch is not None:
            self.on_switch(channel.path, dead.path, "connected again")
        async for message in self._catch_up(channel):
            yield message

    async def _switch(self, to: Channel, why: str) -> AsyncIterator[JSON]:
        old = self.primary
        self.primary, self.warm = to, None
        self.switches += 1
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close(dead=not old.alive())
        if self.on_switch is not None:
            self.on_switch(to.path, None if old is None else old.path, why)
        async for message in self._catch_up(to):
            yield message

    async def _catch_up(self, channel: Channel) -> AsyncIterator[JSON]:
        """Read states again on the new primary: each object whose state differs from what
        the caller last saw comes out as a ``state`` message. The channel's queue then
        starts after that snapshot (its older messages are dropped)."""
        while not channel.queue.empty():
            if channel.queue.get_nowait() is None:
                await channel.queue.put(None)
                break
        states = None if channel.states is None else dict(channel.states)
        if states is None:
            answer = await channel.session.api.states()
            raw = answer.get("states")
            states = dict(raw) if isinstance(raw, dict) else {}
        for object_id, state in states.items():
            if self.known.get(object_id) != state:
                self.known[object_id] = state
                yield {"type": "state", "object": object_id, "state": state, "resumed": True}
