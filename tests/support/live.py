"""A live web app on 127.0.0.1 (uvicorn in the test's loop) over ``make_env`` services."""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
import websockets

from domogate.core import devicekeys
from domogate.web.app import asgi_entry, create_app
from domogate.web.live import WS_MAX_MESSAGE, LiveHub
from tests.support.services_env import ADMIN_PASSWORD, Env


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


async def redeem(live: Live, otp: str, name: str) -> dict[str, Any]:
    key = devicekeys.generate_private_key()
    r = await live.http.post(
        "/api/auth/otp",
        json={
            "otp": otp,
            "name": name,
            "device": {"name": "phone", "public_key": devicekeys.public_key_of(key)},
        },
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    body["_key"] = key
    return body


async def ws_open(live: Live, auth: dict[str, Any]):  # type: ignore[no-untyped-def]
    ws = await websockets.connect(live.ws_url)
    await ws.send(json.dumps({"type": "auth", "token": auth["session"]["token"]}))
    hello = json.loads(await ws.recv())
    assert hello["type"] == "hello", hello
    return ws


async def next_of(ws, kind: str, timeout: float = 2.0) -> dict[str, Any]:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        msg = json.loads(await asyncio.wait_for(ws.recv(), max(0.01, deadline - time.monotonic())))
        if msg["type"] == kind:
            return msg  # type: ignore[no-any-return]
