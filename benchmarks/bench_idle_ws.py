"""Server memory per idle, authenticated WebSocket client.

DESIGN §8: under 20 KiB of server memory per idle connected client (measured on this kind
of machine: bare `websockets` 14 KiB, FastAPI/uvicorn defaults 30 KiB). The baseline, run
in the same script with the same client, is a bare `websockets` server that answers the
first message and then idles. Both run in child processes; the figure is the growth of
the child's resident memory divided by the number of connections. Plain ws:// for both
(TLS adds the same OpenSSL cost to any stack).

    python benchmarks/bench_idle_ws.py [--clients 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import websockets
from fastapi import WebSocket, WebSocketDisconnect

from domogate.core import devicekeys
from domogate.core.throttle import BucketSpec
from domogate.security.passwords import Argon2Parameters
from domogate.settings import ServerSettings, ThrottleSettings
from benchmarks.support import project_data


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def bench_settings(folder: Path, port: int) -> ServerSettings:
    """Server settings for benchmarks: plain HTTP, cheap hashes, and the flood guards
    lifted (one benchmark client signs in and sends commands thousands of times from one
    address), so that the figures measure the paths, not the guards."""
    return ServerSettings(
        data_dir=folder,
        port=port,
        insecure_http=True,
        argon2=Argon2Parameters.cheap_for_tests(),
        throttle=ThrottleSettings(
            challenge_per_source=BucketSpec(1e9, 1e9), commands_per_user=BucketSpec(1e9, 1e9)
        ),
    )


def run_domogate(port: int, folder: str) -> None:
    """A domogate server (simulated bus, the test project deployed), in a child process."""
    import uvicorn

    from domogate.server import open_services, prepare_data, uvicorn_config
    from domogate.services.context import RequestContext
    from domogate.web.app import create_app

    settings = bench_settings(Path(folder), port)

    async def main() -> None:
        data, _ = prepare_data(settings)
        services = await open_services(settings, data)
        await services.start()
        await services.deploy.deploy(
            RequestContext("bench"), project_data(), setup_code=data.setup_code()
        )
        app = create_app(settings, services)
        await uvicorn.Server(uvicorn_config(app, settings, data, "warning")).serve()

    asyncio.run(main())


def run_bare(port: int) -> None:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "hello"}))
        async for _ in ws:
            pass

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None):
            await asyncio.Future()

    asyncio.run(main())


def run_bare_fastapi(port: int) -> None:
    """The same web stack and uvicorn settings as domogate, with a bare endpoint."""
    import uvicorn
    from fastapi import FastAPI

    from domogate.web.live import WS_MAX_MESSAGE

    app = FastAPI()

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        try:
            await websocket.receive_text()
            await websocket.send_text(json.dumps({"type": "hello"}))
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            pass

    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        ws="websockets-sansio",
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_MESSAGE,
    )
    asyncio.run(uvicorn.Server(config).serve())


async def wait_http(url: str) -> None:
    async with httpx.AsyncClient() as c:
        for _ in range(300):
            try:
                if (await c.get(url)).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def enrol(client: httpx.AsyncClient) -> tuple[str, str, Any]:
    """Log bob in with a fresh device key: (device id, server id, key)."""
    key = devicekeys.generate_private_key()
    r = await client.post(
        "/api/auth/password",
        json={
            "username": "bob",
            "password": "bob-password",
            "device": {"name": "bench", "public_key": devicekeys.public_key_of(key)},
        },
    )
    r.raise_for_status()
    return r.json()["device"]["id"], r.json()["server_id"], key


async def domogate_tokens(base: str, n: int) -> list[str]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        device_id, server_id, key = await enrol(c)
        tokens = []
        for _ in range(n):
            ch = (await c.post("/api/auth/challenge", json={"device_id": device_id})).json()
            sig = devicekeys.sign(
                key, devicekeys.challenge_message(server_id, device_id, ch["challenge"])
            )
            r = await c.post(
                "/api/auth/device",
                json={"device_id": device_id, "challenge": ch["challenge"], "signature": sig},
            )
            r.raise_for_status()
            tokens.append(r.json()["session"]["token"])
    return tokens


async def open_idle(url: str, tokens: list[str]) -> list[Any]:
    conns = []
    for token in tokens:
        ws = await websockets.connect(url, compression=None, max_size=2**22)
        await ws.send(json.dumps({"type": "auth", "token": token}))
        await ws.recv()
        conns.append(ws)
    return conns


async def drain(conns: list[Any]) -> None:
    # keep reading so that pushed client lists do not pile up in our buffers
    async def reader(ws: Any) -> None:
        try:
            async for _ in ws:
                pass
        except websockets.ConnectionClosed:
            pass

    tasks = [asyncio.create_task(reader(ws)) for ws in conns]
    await asyncio.sleep(2.0)
    for t in tasks:
        t.cancel()


async def measure(pid: int, url: str, tokens: list[str], warmup: int) -> float:
    warm = await open_idle(url, tokens[:warmup])
    await asyncio.sleep(1.0)
    before = rss_kib(pid)
    conns = await open_idle(url, tokens[warmup:])
    await drain(conns)
    after = rss_kib(pid)
    for ws in warm + conns:
        await ws.close()
    return (after - before) / (len(tokens) - warmup)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=2000)
    args = parser.parse_args()
    warmup = 100
    n = args.clients + warmup
    ctx = multiprocessing.get_context("spawn")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = ctx.Process(target=run_domogate, args=(port, str(Path(tmp) / "data")))
        proc.start()
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_http(base + "/api/info"))
            t0 = time.perf_counter()
            tokens = asyncio.run(domogate_tokens(base, n))
            signin_s = time.perf_counter() - t0
            assert proc.pid is not None
            ours = asyncio.run(measure(proc.pid, f"ws://127.0.0.1:{port}/api/ws", tokens, warmup))
        finally:
            proc.terminate()
            proc.join(10)

    def baseline(target: Any, path: str) -> float:
        port = free_port()
        child = ctx.Process(target=target, args=(port,))
        child.start()
        try:
            time.sleep(1.5)
            assert child.pid is not None
            url = f"ws://127.0.0.1:{port}{path}"
            return asyncio.run(measure(child.pid, url, ["x"] * n, warmup))
        finally:
            child.terminate()
            child.join(10)

    base_kib = baseline(run_bare, "")
    fastapi_kib = baseline(run_bare_fastapi, "/ws")

    print(f"clients: {args.clients} idle, after {warmup} warm-up connections")
    print(f"(sign-ins over HTTP to get the tokens: {n / signin_s:.0f}/s with one client)")
    print(f"baseline: bare websockets server   {base_kib:6.1f} KiB per idle client")
    print(
        f"stack:    FastAPI/uvicorn sans-I/O {fastapi_kib:6.1f} KiB per idle client (bare endpoint)"
    )
    print(f"domogate: /api/ws, authenticated   {ours:6.1f} KiB per idle client")
    print(f"ratio ours/baseline: {ours / base_kib:.2f}   (target: under 20 KiB per client)")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
