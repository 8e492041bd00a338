"""A WebSocket outlives the request-head deadline: once uvicorn has upgraded the
connection, its slot's head and body deadlines are stopped (h11 still sits in SEND_BODY
after the upgrade request, which once armed a body deadline that aborted every WebSocket,
the cloud's control links included, after ``head_timeout_s``)."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from websockets.asyncio.client import connect

from domogate.core import devicekeys
from tests.support.guarded import http_over, start_guarded
from tests.support.services_env import ADMIN_PASSWORD, make_env

HEAD_TIMEOUT_S = 0.4


async def test_a_live_websocket_outlives_the_head_deadline(tmp_path: Path) -> None:
    env = await make_env(tmp_path)
    web = await start_guarded(env, tmp_path, head_timeout_s=HEAD_TIMEOUT_S)
    try:
        device = {"name": "phone", "public_key": devicekeys.public_key_of(
            devicekeys.generate_private_key())}  # fmt: skip
        status, auth = await http_over(
            None, web.client_context(), "POST", "/api/auth/password", port=web.port,
            body={"username": "alice", "password": ADMIN_PASSWORD, "device": device},
        )  # fmt: skip
        assert status == 200, auth
        async with connect(
            f"wss://127.0.0.1:{web.port}/api/ws",
            ssl=web.client_context(),
            server_hostname="localhost",
            proxy=None,
        ) as ws:
            await ws.send(json.dumps({"type": "auth", "token": auth["session"]["token"]}))
            opened = time.monotonic()
            while time.monotonic() - opened < 4 * HEAD_TIMEOUT_S:
                await ws.send(json.dumps({"type": "ping"}))
                async with asyncio.timeout(2):
                    while json.loads(await ws.recv())["type"] != "pong":
                        pass
                await asyncio.sleep(0.1)
    finally:
        await web.stop()
        await env.services.close()
