"""Fixtures for the web tests (helpers: ``tests.support.live``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.live import Live, start_live
from tests.support.services_env import make_env


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    env = await make_env(tmp_path)
    server, task, url, hub = await start_live(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Live(env, url, http, hub)
    server.should_exit = True
    await task
    await env.services.close()
