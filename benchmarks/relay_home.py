"""The "home" side of ``bench_relay.py``: one or many real :class:`LinkClient`\\ s linked to
a ``domogate cloud serve``, pinned by its fingerprint.

Each attached stream (``on_stream(sock, host, port)``) is served like SniTun's
TransportConnector does it: TLS terminated in this process with the bench certificate,
the anchor's ``BackendProto`` (ECHO / DOWN n / UP n) behind it. With ``--count N`` it runs
N installations (server ids ``PREFIX-0`` …), at most ``--concurrency`` claiming at once
(the cloud rate-limits password attempts per source address), and prints
``READY <n> <pool connections>`` once every link is up and every pool full.

    python benchmarks/relay_home.py --cloud 127.0.0.1:PORT --fingerprint HEX --certdir DIR
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import os
import socket
import ssl
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cloudsupport import SNITUN_DIR, MemoryCloudFiles
from domogate.cloud.link import LinkClient
from domogate.services.ports import CLOUD_LINKED, CloudLinkState, CloudTarget

PASSWORD = "bench-cloud-password"  # noqa: S105 - a benchmark's own cloud


def anchor_backend() -> Any:
    """``snitun_bench.py`` (stdlib only at import): the very protocol the anchor serves."""
    sys.path.insert(0, str(SNITUN_DIR))
    return importlib.import_module("snitun_bench")


def all_ready(links: list[LinkClient], states: dict[str, str]) -> tuple[bool, int]:
    pools = 0
    for link in links:
        if states.get(link.name) != CLOUD_LINKED or link.pools is None:
            return False, pools
        if link.pools.idle < link.pools.size:
            return False, pools
        pools += link.pools.idle
    return True, pools


async def main(args: argparse.Namespace) -> None:
    sb = anchor_backend()
    server_ctx: ssl.SSLContext = sb.server_ssl_context(args.certdir)
    loop = asyncio.get_running_loop()
    tasks: set[asyncio.Task[Any]] = set()

    def on_stream(sock: socket.socket, host: str, port: int) -> None:
        task = loop.create_task(loop.connect_accepted_socket(sb.BackendProto, sock, ssl=server_ctx))
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    target = CloudTarget(args.cloud, args.fingerprint, PASSWORD)
    states: dict[str, str] = {}

    def report(state: CloudLinkState) -> None:
        if state.name is not None:
            states[state.name] = state.status

    links: list[LinkClient] = []
    deadline = time.monotonic() + args.timeout
    for i in range(args.count):
        while sum(1 for s in states.values() if s != CLOUD_LINKED) >= args.concurrency:
            if time.monotonic() > deadline:
                raise SystemExit(f"only {len(links)} links started within {args.timeout} s")
            await asyncio.sleep(0.005)
        link = LinkClient(MemoryCloudFiles(f"{args.prefix}-{i}"), on_stream)
        links.append(link)
        link.start(target, report)
        states.setdefault(link.name, "starting")
    while True:
        ready, pools = all_ready(links, states)
        if ready:
            break
        if time.monotonic() > deadline:
            linked = sum(1 for s in states.values() if s == CLOUD_LINKED)
            raise SystemExit(f"{linked}/{args.count} linked within {args.timeout} s")
        await asyncio.sleep(0.01)
    print(f"READY {len(links)} {pools} {os.getpid()}", flush=True)
    await asyncio.sleep(args.max_seconds)
    for link in links:
        await link.stop()


def parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cloud", required=True, help="HOST:PORT of the cloud")
    p.add_argument("--fingerprint", required=True, help="the cloud's SHA-256 (ready line)")
    p.add_argument("--certdir", required=True, help="cert.pem/key.pem served to clients")
    p.add_argument("--count", type=int, default=1, help="installations in this process")
    p.add_argument("--prefix", default="bench-home", help="server ids are PREFIX-<i>")
    p.add_argument("--concurrency", type=int, default=8, help="links connecting at once")
    p.add_argument("--timeout", type=float, default=300.0)
    p.add_argument("--max-seconds", type=float, default=3600.0)
    return p.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
