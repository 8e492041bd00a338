"""A BusListener that records what a bus reports, with waits instead of sleeps."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue
from domogate.services.bus import BusStatus


def obj(object_id: str, type_: str, **bindings: str | tuple[str, str]) -> ProjectObject:
    """A project object; a binding is an address, or (address, dpt)."""
    spec: dict[str, Any] = {}
    for key, binding in bindings.items():
        if isinstance(binding, tuple):
            spec[key] = {"address": binding[0], "dpt": binding[1]}
        else:
            spec[key] = {"address": binding}
    return ProjectObject.model_validate(
        {"id": object_id, "name": object_id, "type": type_, "page": "home", "bindings": spec}
    )


class Recorder:
    def __init__(self) -> None:
        self.values: list[tuple[str, JsonValue]] = []
        self.statuses: list[BusStatus] = []
        self._changed = asyncio.Event()

    # BusListener
    def on_value(self, address: str, value: JsonValue) -> None:
        self.values.append((address, value))
        self._changed.set()

    def on_status(self, status: BusStatus) -> None:
        self.statuses.append(status)
        self._changed.set()

    # queries
    def last(self, address: str) -> JsonValue:
        for seen, value in reversed(self.values):
            if seen == address:
                return value
        raise KeyError(address)

    def of(self, address: str) -> list[JsonValue]:
        return [value for seen, value in self.values if seen == address]

    def clear(self) -> None:
        self.values.clear()
        self.statuses.clear()

    async def until(
        self, condition: Callable[[], bool], timeout: float = 5.0, what: str = ""
    ) -> None:
        """Wait until ``condition()`` holds (checked after each report)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not condition():
            left = deadline - loop.time()
            if left <= 0:
                raise AssertionError(
                    f"timed out after {timeout} s waiting for {what or 'a condition'}; "
                    f"values: {self.values[-20:]}, statuses: {self.statuses[-5:]}"
                )
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def value(self, address: str, expected: JsonValue, timeout: float = 5.0) -> None:
        await self.until(
            lambda: (address, expected) in self.values, timeout, f"{expected!r} on {address}"
        )

    async def connected(self, connected: bool, timeout: float = 5.0) -> BusStatus:
        await self.until(
            lambda: bool(self.statuses) and self.statuses[-1].connected is connected,
            timeout,
            f"connected={connected}",
        )
        return self.statuses[-1]
