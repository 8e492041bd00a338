"""Device sign-in through HTTP (challenge + signed answer), end to end, on this machine.

The server runs in a child process; the clients (several concurrent loops, each one
asking for a challenge, signing it with ECDSA P-256 and sending it back) run in this
process, on the same 2 cores. The baseline, run in the same script with the same
clients, is a bare FastAPI app on the same uvicorn settings whose two endpoints return a
fixed challenge and a fixed answer: the ratio is what domogate's sign-in costs on top of
the web stack and the client. Plain HTTP for both (TLS costs both sides the same).

    python benchmarks/bench_http_sign_in.py [--seconds 5] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

from benchmarks.bench_idle_ws import enrol, free_port, run_domogate, wait_http
from domogate.core import devicekeys


def run_bare_fastapi(port: int) -> None:
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()
    answer = {
        "session": {"token": "t" * 43, "expires_at": "2026-01-01T00:00:00Z"},
        "user": {"id": "u", "name": "bob", "group": "guests", "admin": False},
        "device": {"id": "d", "name": "bench"},
        "server_id": "bench",
        "path": "local",
    }

    @app.post("/api/auth/challenge")
    async def challenge() -> dict[str, str]:
        return {"challenge": "c" * 32, "expires_at": "2026-01-01T00:00:00Z"}

    @app.post("/api/auth/device")
    async def device() -> dict[str, object]:
        return answer

    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning")
    asyncio.run(uvicorn.Server(config).serve())


async def load(
    base: str, device_id: str, server_id: str, key: object, seconds: float, concurrency: int
) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker(client: httpx.AsyncClient) -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            ch = (await client.post("/api/auth/challenge", json={"device_id": device_id})).json()
            sig = devicekeys.sign(
                key,  # type: ignore[arg-type]
                devicekeys.challenge_message(server_id, device_id, ch["challenge"]),
            )
            r = await client.post(
                "/api/auth/device",
                json={"device_id": device_id, "challenge": ch["challenge"], "signature": sig},
            )
            r.raise_for_status()
            done += 1

    clients = [httpx.AsyncClient(base_url=base, timeout=30) for _ in range(concurrency)]
    t0 = time.perf_counter()
    try:
        await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for c in clients:
            await c.aclose()
    return done / (time.perf_counter() - t0)


async def enrol_at(base: str) -> tuple[str, str, object]:
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        return await enrol(c)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    ctx = multiprocessing.get_context("spawn")

    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        proc = ctx.Process(target=run_domogate, args=(port, str(Path(tmp) / "data")))
        proc.start()
        try:
            base = f"http://127.0.0.1:{port}"
            asyncio.run(wait_http(base + "/api/info"))
            device_id, server_id, key = asyncio.run(enrol_at(base))
            ours = asyncio.run(
                load(base, device_id, server_id, key, args.seconds, args.concurrency)
            )
        finally:
            proc.terminate()
            proc.join(10)

    port = free_port()
    bare = ctx.Process(target=run_bare_fastapi, args=(port,))
    bare.start()
    try:
        base = f"http://127.0.0.1:{port}"
        asyncio.run(wait_http(base + "/docs"))
        key = devicekeys.generate_private_key()
        baseline = asyncio.run(load(base, "d", "bench", key, args.seconds, args.concurrency))
    finally:
        bare.terminate()
        bare.join(10)

    print(f"{args.concurrency} concurrent clients in this process, {args.seconds:g} s each run")
    print(f"baseline: bare FastAPI, same requests  {baseline:7.0f} sign-ins/s")
    print(f"domogate: /api/auth/challenge + device {ours:7.0f} sign-ins/s")
    print(f"ratio ours/baseline: {ours / baseline:.2f}   (DESIGN target: over 2,000 sign-ins/s)")


if __name__ == "__main__":
    main()
