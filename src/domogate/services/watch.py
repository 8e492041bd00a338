"""Who holds a session open (a live connection), and one timer for all their deadlines.

Mechanism only: :class:`~domogate.services.auth.AuthService` decides whether a session may
continue and uses this registry to tell the holders when the answer changes (the model is
Home Assistant's ``async_register_revoke_token_callback`` with its scheduled expiry). An
idle holder costs an entry here and a place in one heap; nothing runs until a deadline
comes due or something changes.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Protocol

from domogate.errors import DomogateError
from domogate.services.context import Caller
from domogate.services.ports import Clock

MIN_REARM_S = 0.1  # a deadline not yet due when its timer fires is looked at again this late


class AccessListener(Protocol):
    """What a holder of a session (a live connection) is told."""

    def access_ended(self, error: DomogateError) -> None:
        """The session may not continue (revoked, logged out, expired, …)."""

    def access_changed(self, caller: Caller, announce: bool) -> None:
        """The account changed (group, admin flag, …): the caller as it is now.
        ``announce``: whether the holder should tell its client at once."""


class Watch:
    __slots__ = ("active", "caller", "deadline", "listener")

    def __init__(self, caller: Caller, listener: AccessListener) -> None:
        self.caller = caller
        self.listener = listener
        self.active = True
        self.deadline: datetime | None = None


class WatchRegistry:
    def __init__(self, clock: Clock, deadline_of: Callable[[Caller], datetime | None]) -> None:
        self._clock = clock
        self._deadline_of = deadline_of
        self._by_token: dict[str, dict[Watch, None]] = {}
        self._heap: list[tuple[datetime, int, Watch]] = []
        self._seq = itertools.count()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: datetime | None = None
        self.on_due: Callable[[Watch, datetime], None] = lambda watch, now: None

    def __len__(self) -> int:
        return sum(len(w) for w in self._by_token.values())

    def add(self, caller: Caller, listener: AccessListener) -> Watch:
        watch = Watch(caller, listener)
        self._by_token.setdefault(caller.session.token_hash, {})[watch] = None
        self._schedule(watch)
        return watch

    def remove(self, watch: Watch) -> None:
        watch.active = False
        token_hash = watch.caller.session.token_hash
        held = self._by_token.get(token_hash)
        if held is not None:
            held.pop(watch, None)
            if not held:
                del self._by_token[token_hash]
        if not self._by_token:
            self._heap.clear()
            self._cancel_timer()

    def update(self, watch: Watch, caller: Caller) -> None:
        """The same session, its account as it is now (its deadline may move)."""
        watch.caller = caller
        self._schedule(watch)

    def of_token(self, token_hash: str) -> list[Watch]:
        return list(self._by_token.get(token_hash, ()))

    def all(self) -> Iterator[Watch]:
        for held in list(self._by_token.values()):
            yield from list(held)

    # --- one timer for every deadline -------------------------------------------------------

    def _schedule(self, watch: Watch) -> None:
        at = self._deadline_of(watch.caller)
        watch.deadline = at
        if at is None:
            return
        heapq.heappush(self._heap, (at, next(self._seq), watch))
        if self._timer_at is None or at < self._timer_at:
            self._arm(at)

    def _arm(self, at: datetime, minimum: float = 0.0) -> None:
        self._cancel_timer()
        delay = max(minimum, (at - self._clock.now()).total_seconds())
        self._timer_at = at
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # not serving: nobody to tell
            return
        self._timer = loop.call_later(delay, self._fire)

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._timer_at = None

    def _fire(self) -> None:
        self._timer = None
        self._timer_at = None
        now = self._clock.now()
        while self._heap and self._heap[0][0] <= now:
            at, _, watch = heapq.heappop(self._heap)
            if watch.active and watch.deadline == at:
                watch.deadline = None
                self.on_due(watch, now)
        while self._heap and (
            not self._heap[0][2].active or self._heap[0][2].deadline != self._heap[0][0]
        ):
            heapq.heappop(self._heap)  # stale entries of holders gone or rescheduled
        if self._heap:
            self._arm(self._heap[0][0], MIN_REARM_S)
