from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from domogate.core import devicekeys
from domogate.web.app import asgi_entry, create_app
from domogate.web.live import WS_MAX_MESSAGE, LiveHub
from tests.services.conftest import ADMIN_PASSWORD, Env, make_env


@dataclass
class Live:
    env: Env
    url: str
    http: httpx.AsyncClient
    hub: LiveHub

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://") + "/api/ws"

    async def login(
        self, username: str = "alice", password: str = ADMIN_PASSWORD
    ) -> dict[str, Any]:
        key = devicekeys.generate_private_key()
        r = await self.http.post(
            "/api/auth/password",
            json={
                "username": username,
                "password": password,
                "device": {"name": "test", "public_key": devicekeys.public_key_of(key)},
            },
        )
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        body["_key"] = key
        return body

    @staticmethod
    def bearer(auth: dict[str, Any]) -> dict[str, str]:
        return {"Authorization": f"Bearer {auth['session']['token']}"}


async def start_live(env: Env) -> tuple[uvicorn.Server, asyncio.Task[None], str, LiveHub]:
    app = create_app(env.services.settings, env.services)
    config = uvicorn.Config(
        asgi_entry(app),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_MESSAGE,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
        if task.done():
            task.result()
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}", app.state.hub


@pytest.fixture
async def live(tmp_path: Path) -> AsyncIterator[Live]:
    env = await make_env(tmp_path)
    server, task, url, hub = await start_live(env)
    async with httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Live(env, url, http, hub)
    server.should_exit = True
    await task
    await env.services.close()
