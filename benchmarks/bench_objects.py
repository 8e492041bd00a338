"""Operating objects: command-to-bus-write latency, and one state change fanned out to
1,000 connected WebSocket clients.

DESIGN §8 targets: a command from a client to the bus write, server side, p99 under 2 ms
(simulated bus, 2 cores); a state change reaching 1,000 connected clients p99 under 50 ms,
our overhead at most 1.5x a bare `websockets` broadcast of the same bytes.

1. Latency. The server runs in this process (uvicorn on 127.0.0.1, the simulated bus);
   one client sends commands one after the other over /api/ws. Server side: from the moment
   the live channel parses the message to the moment the simulated bus's write returns.
   Baseline in the same run: a bare `websockets` echo server's round trip for the same
   bytes, next to our client-observed round trip (command → result).
2. Fan-out. domogate (real server code, simulated bus) and, as the baseline, a bare
   `websockets` server that `broadcast()`s the same bytes, each in a child process; 1,000
   clients in this process (same 2 cores, as in DESIGN's figures). One sender triggers a
   change; each client records when the state message arrives (CLOCK_MONOTONIC is shared
   between processes). Figures are over every client of every round.

    python benchmarks/bench_objects.py [--clients 1000] [--rounds 30] [--commands 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import websockets

from benchmarks.bench_idle_ws import (
    bench_settings,
    domogate_tokens,
    free_port,
    run_domogate,
    wait_http,
)
from domogate.core import devicekeys
from benchmarks.support import ADMIN_PASSWORD, project_data

OBJECT = "hall"  # a switch every group sees (benchmarks/support.py)
WORST: dict[str, list[float]] = {}  # the last client's latency, round by round


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


# --- 1. command to bus write --------------------------------------------------------------


async def command_latency(n: int, folder: Path) -> dict[str, float]:
    import uvicorn

    import domogate.web.live.protocol as live_module
    from domogate.server import open_services, prepare_data, uvicorn_config
    from domogate.services.context import RequestContext
    from domogate.web.app import create_app

    port = free_port()
    settings = bench_settings(folder, port)
    data, _ = prepare_data(settings)
    services = await open_services(settings, data)
    await services.start()
    await services.deploy.deploy(
        RequestContext("bench"), project_data(), setup_code=data.setup_code()
    )
    app = create_app(settings, services)
    server = uvicorn.Server(uvicorn_config(app, settings, data, "warning"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event for it)
        await asyncio.sleep(0.01)

    # Instrument: parse of the incoming message → return of the bus write.
    parsed_at = [0.0]
    server_side: list[float] = []
    real_parse = live_module.parse

    def timed_parse(raw: str) -> dict[str, Any]:
        parsed_at[0] = time.perf_counter()
        return real_parse(raw)

    bus = services.objects._bus
    real_write = bus.write

    async def timed_write(address: str, dpt: str, value: Any) -> None:
        await real_write(address, dpt, value)
        server_side.append(time.perf_counter() - parsed_at[0])

    live_module.parse = timed_parse  # type: ignore[assignment]

    bus.write = timed_write  # type: ignore[method-assign]
    round_trips: list[float] = []
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
            key = devicekeys.generate_private_key()
            r = await http.post(
                "/api/auth/password",
                json={
                    "username": "alice",
                    "password": ADMIN_PASSWORD,
                    "device": {"name": "bench", "public_key": devicekeys.public_key_of(key)},
                },
            )
            token = r.json()["session"]["token"]
        async with websockets.connect(f"ws://127.0.0.1:{port}/api/ws", compression=None) as ws:
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.recv()
            for i in range(n + 100):
                message = json.dumps(
                    {
                        "type": "command",
                        "id": i,
                        "object": OBJECT,
                        "attribute": "on",
                        "value": i % 2 == 0,
                    }
                )
                started = time.perf_counter()
                await ws.send(message)
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("type") == "result":
                        break
                assert reply["ok"], reply
                round_trips.append(time.perf_counter() - started)
    finally:
        live_module.parse = real_parse
        server.should_exit = True
        await task
        await services.close()
    baseline = await echo_round_trips(n + 100, message)
    warm = slice(100, None)
    return {
        "server_p50": pct(server_side[warm], 0.5),
        "server_p99": pct(server_side[warm], 0.99),
        "rtt_p50": pct(round_trips[warm], 0.5),
        "rtt_p99": pct(round_trips[warm], 0.99),
        "echo_p50": pct(baseline[warm], 0.5),
        "echo_p99": pct(baseline[warm], 0.99),
    }


async def echo_round_trips(n: int, message: str) -> list[float]:
    from websockets.asyncio.server import ServerConnection, serve

    async def handler(ws: ServerConnection) -> None:
        async for m in ws:
            await ws.send(m)

    out = []
    async with serve(handler, "127.0.0.1", 0, compression=None) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        async with websockets.connect(f"ws://127.0.0.1:{port}", compression=None) as ws:
            for _ in range(n):
                started = time.perf_counter()
                await ws.send(message)
                await ws.recv()
                out.append(time.perf_counter() - started)
    return out


# --- 2. fan-out -----------------------------------------------------------------------------


def run_bare_broadcast(port: int) -> None:
    """Answers the first message with a hello; a message "go:TEXT" broadcasts TEXT to every
    other connection with `websockets.broadcast`."""
    from websockets.asyncio.server import ServerConnection, broadcast, serve

    clients: set[ServerConnection] = set()

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(json.dumps({"type": "hello"}))
        clients.add(ws)
        try:
            async for m in ws:
                if isinstance(m, str) and m.startswith("go:"):
                    broadcast([c for c in clients if c is not ws], m[3:])
        finally:
            clients.discard(ws)

    async def main() -> None:
        async with serve(handler, "127.0.0.1", port, compression=None):
            await asyncio.Future()

    asyncio.run(main())


async def sender_token(base: str) -> str:
    """A session of alice (an admin of the test project): she sends the commands."""
    async with httpx.AsyncClient(base_url=base, timeout=30) as c:
        key = devicekeys.generate_private_key()
        r = await c.post(
            "/api/auth/password",
            json={
                "username": "alice",
                "password": ADMIN_PASSWORD,
                "device": {"name": "sender", "public_key": devicekeys.public_key_of(key)},
            },
        )
        return str(r.json()["session"]["token"])


class Fleet:
    """n connected clients that timestamp the arrival of each state message."""

    def __init__(self) -> None:
        self.conns: list[Any] = []
        self.arrivals: list[float] = []
        self.expected = 0
        self.done = asyncio.Event()

    async def open(self, url: str, tokens: list[str]) -> None:
        for token in tokens:
            ws = await websockets.connect(url, compression=None, max_size=2**22)
            await ws.send(json.dumps({"type": "auth", "token": token}))
            await ws.recv()
            self.conns.append(ws)
        self.readers = [asyncio.create_task(self._read(ws)) for ws in self.conns]

    async def _read(self, ws: Any) -> None:
        try:
            async for raw in ws:
                if raw.startswith('{"type": "state", '):
                    self.arrivals.append(time.monotonic())
                    if len(self.arrivals) >= self.expected:
                        self.done.set()
        except websockets.ConnectionClosed:
            pass

    async def round(self, trigger: Any) -> list[float]:
        self.arrivals = []
        self.expected = len(self.conns)
        self.done.clear()
        started = time.monotonic()
        await trigger()
        await asyncio.wait_for(self.done.wait(), 30)
        return [t - started for t in self.arrivals]

    async def close(self) -> None:
        for t in self.readers:
            t.cancel()
        for ws in self.conns:
            await ws.close()


def state_text(value: bool) -> str:
    return json.dumps({"type": "state", "object": OBJECT, "state": {"on": value}})


async def fan_out_domogate(port: int, clients: int, rounds: int) -> list[float]:
    base = f"http://127.0.0.1:{port}"
    await wait_http(base + "/api/info")
    tokens = await domogate_tokens(base, clients)  # bob's: a guest who sees the switch
    admin = await sender_token(base)
    fleet = Fleet()
    await fleet.open(f"ws://127.0.0.1:{port}/api/ws", tokens)
    sender = await websockets.connect(f"ws://127.0.0.1:{port}/api/ws", compression=None)
    await sender.send(json.dumps({"type": "auth", "token": admin}))
    drain = asyncio.create_task(_drain(sender))
    latencies: list[float] = []
    for i in range(rounds + 3):
        command = {"type": "command", "id": i, "object": OBJECT, "attribute": "on",
                   "value": i % 2 == 0}  # fmt: skip

        async def trigger(message: str = json.dumps(command)) -> None:
            await sender.send(message)

        got = await fleet.round(trigger)
        if i >= 3:  # warm-up rounds
            latencies += got
            WORST.setdefault("domogate", []).append(max(got))
        await asyncio.sleep(0.2)
    drain.cancel()
    await sender.close()
    await fleet.close()
    return latencies


async def fan_out_bare(port: int, clients: int, rounds: int) -> list[float]:
    for _ in range(100):
        try:
            probe = await websockets.connect(f"ws://127.0.0.1:{port}")
            await probe.close()
            break
        except OSError:
            await asyncio.sleep(0.1)
    fleet = Fleet()
    await fleet.open(f"ws://127.0.0.1:{port}", ["x"] * clients)
    sender = await websockets.connect(f"ws://127.0.0.1:{port}", compression=None)
    await sender.send("auth")
    await sender.recv()
    latencies: list[float] = []
    for i in range(rounds + 3):

        async def trigger(message: str = "go:" + state_text(i % 2 == 0)) -> None:
            await sender.send(message)

        got = await fleet.round(trigger)
        if i >= 3:
            latencies += got
            WORST.setdefault("baseline", []).append(max(got))
        await asyncio.sleep(0.2)
    await sender.close()
    await fleet.close()
    return latencies


async def _drain(ws: Any) -> None:
    try:
        async for _ in ws:
            pass
    except websockets.ConnectionClosed:
        pass


def in_child(target: Any, *args: Any) -> Any:
    ctx = multiprocessing.get_context("spawn")
    child = ctx.Process(target=target, args=args)
    child.start()
    return child


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("--commands", type=int, default=2000)
    args = parser.parse_args()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    with tempfile.TemporaryDirectory() as tmp:
        lat = asyncio.run(command_latency(args.commands, Path(tmp) / "latency"))

        port = free_port()
        child = in_child(run_domogate, port, str(Path(tmp) / "fanout"))
        try:
            ours = asyncio.run(fan_out_domogate(port, args.clients, args.rounds))
        finally:
            child.terminate()
            child.join(10)

    port = free_port()
    child = in_child(run_bare_broadcast, port)
    try:
        base = asyncio.run(fan_out_bare(port, args.clients, args.rounds))
    finally:
        child.terminate()
        child.join(10)

    ms = 1000.0
    print(f"1. command to bus write ({args.commands} commands, simulated bus, one client)")
    print(
        f"   server side (parse -> bus write returned): p50 {lat['server_p50'] * ms:.3f} ms, "
        f"p99 {lat['server_p99'] * ms:.3f} ms   (target: p99 under 2 ms)"
    )
    print(
        f"   client round trip command->result:        p50 {lat['rtt_p50'] * ms:.3f} ms, "
        f"p99 {lat['rtt_p99'] * ms:.3f} ms"
    )
    print(
        f"   baseline, bare websockets echo round trip: p50 {lat['echo_p50'] * ms:.3f} ms, "
        f"p99 {lat['echo_p99'] * ms:.3f} ms"
    )
    print(f"   ratio round trip ours/baseline: p50 {lat['rtt_p50'] / lat['echo_p50']:.2f}")
    print(
        f"2. one state change to {args.clients} clients ({args.rounds} rounds, "
        "clients on the same cores)"
    )
    for label, values in (("domogate", ours), ("baseline, bare websockets broadcast", base)):
        print(
            f"   {label}: p50 {statistics.median(values) * ms:.1f} ms, "
            f"p99 {pct(values, 0.99) * ms:.1f} ms, max {max(values) * ms:.1f} ms"
        )
    print(
        f"   ratio ours/baseline: p50 {statistics.median(ours) / statistics.median(base):.2f}, "
        f"p99 {pct(ours, 0.99) / pct(base, 0.99):.2f}   "
        "(targets: p99 under 50 ms; ratio at most 1.5)"
    )
    for label, worst in WORST.items():
        shown = " ".join(f"{w * ms:.0f}" for w in worst)
        print(f"   last client per round, {label} (ms): {shown}")
    _ = soft


if __name__ == "__main__":
    main()
