"""Waiting for a condition with a deadline (never sleep-and-hope): :func:`until` inside an
event loop, :func:`wait_for` from a plain test that drives processes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def until(condition: Callable[[], bool], what: str = "", *, timeout: float = 5.0) -> None:
    """Return once ``condition()`` is true; fail the test after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition!r}")
        await asyncio.sleep(0.005)


def wait_for(condition: Callable[[], Any], what: str, timeout: float = 20) -> Any:
    """``condition()``'s first true result, polled every 50 ms; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
