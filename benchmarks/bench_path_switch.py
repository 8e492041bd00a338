"""Local → cloud switch time of a live channel (``local_and_cloud``), over 10 cuts, through
the real relay.

A real ``domogate cloud serve`` and a real ``domogate server`` whose deployed project
enables the cloud (pinned by the cloud's fingerprint, policy ``local_and_cloud``); the
benchmark waits until the server's ``GET /api/info`` shows ``paths.cloud`` (its link is
up). The client enrols with ``domogate connect`` through a TCP forwarder on 127.0.0.2 (the
local path, which can be cut); its config records local = the forwarder and, from
``/api/info``, the cloud URL and the relay's address (the real ``cloud serve``).

Each round: the Python client's ``watch`` follower (:class:`LiveFollower`) is on local
with cloud warm; the local forwarder is cut (a black hole: the Wi-Fi gone); the time until
the follower is on cloud is measured; local is restored and the follower comes back.
Baseline, in the same run: a plain reconnect (sign-in + live channel) on the path switched
to (cloud, through the relay), and on local. Target: the switch under 2 s (issue 12).

    PYTHONPATH=src python benchmarks/bench_path_switch.py [--rounds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cloudsupport import CloudServe, Forwarder, HomeServer, run_cli, wait_for
from benchmarks.support import ADMIN_PASSWORD, write_project
from domogate.client.config import ClientConfig, ClientSettings
from domogate.client.follow import LiveFollower
from domogate.core.paths import DEAD_AFTER_S, Plan

CLOUD_PASSWORD = "bench-cloud-pass-7c21"  # noqa: S105 - a benchmark installation's
TARGET_S = 2.0


async def _until(condition: Callable[[], bool], what: str, within: float) -> float:
    """Seconds until ``condition()`` holds (polled every 5 ms), or TimeoutError."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise TimeoutError(f"timed out after {within} s waiting for {what}")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def switch_times(config: ClientConfig, local: Forwarder, rounds: int) -> list[float]:
    """Seconds from each cut of ``local`` to the follower being on cloud."""
    switches: list[str] = []
    follower = LiveFollower(
        config, Plan(("local", "cloud")), on_switch=lambda new, old, why: switches.append(new)
    )
    times: list[float] = []
    async with follower:

        async def drain() -> None:
            async for _ in follower:
                pass

        reader = asyncio.create_task(drain())
        for _ in range(rounds):
            await _until(lambda: follower.session.via == "local", "the follower on local", 30)
            await _until(
                lambda: follower.warm is not None and follower.warm.alive(), "cloud warm", 30
            )
            before = len(switches)

            def switched(before: int = before) -> bool:
                return len(switches) > before

            local.cut()
            times.append(await _until(switched, "the switch", 10))
            if (follower.session.via, follower.session.path) != ("cloud", "cloud"):
                raise RuntimeError(f"switched to {follower.session.via!r}, not to cloud")
            local.restore()
        reader.cancel()
    return times


async def reconnect_times(config: ClientConfig, path: str, rounds: int) -> list[float]:
    """Seconds of a plain reconnect on one path: sign-in and the live channel's hello."""
    times: list[float] = []
    for _ in range(rounds):
        one = LiveFollower(config, Plan((path,)))
        started = time.monotonic()
        await one.start()
        times.append(time.monotonic() - started)
        if (one.session.via, one.session.path) != (path, path):  # the server's view too
            raise RuntimeError(f"the {path} reconnect: via {one.session.via}, "
                               f"the server saw {one.session.path}")  # fmt: skip
        await one.aclose()
    return times


def _line(what: str, times: list[float]) -> str:
    return f"{what}: median {statistics.median(times):.3f} s, max {max(times):.3f} s"


async def measure(config: ClientConfig, local: Forwarder, rounds: int) -> None:
    switch = await switch_times(config, local, rounds)
    cloud = await reconnect_times(config, "cloud", rounds)
    direct = await reconnect_times(config, "local", rounds)
    ok = "met" if max(switch) < TARGET_S else "MISSED"
    print(_line(f"local -> cloud switch over {rounds} cuts, through the real relay", switch)
          + f" (target < {TARGET_S:.0f} s: {ok})")  # fmt: skip
    print(_line("baseline, a plain reconnect on cloud (the path switched to)", cloud))
    print(_line("baseline, a plain reconnect on local", direct))
    ratio = statistics.median(switch) / statistics.median(cloud)
    print(f"ratio: switch / cloud reconnect (medians) x{ratio:.1f} (a switch first waits "
          f"for the cut path to be dead, {DEAD_AFTER_S} s without an answer)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10, help="cuts (and reconnects) to time")
    parser.add_argument("--quick", action="store_true", help="3 rounds: a smoke run")
    args = parser.parse_args()
    rounds = 3 if args.quick else args.rounds
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        cloud = CloudServe(tmp / "cloud").start()
        server = HomeServer(tmp / "home", tmp / "home.log")
        local: Forwarder | None = None
        try:
            server.start()
            local = Forwarder(("127.0.0.1", server.port), "127.0.0.2").start()
            project = write_project(tmp / "project", cloud={
                "enabled": True, "address": cloud.address, "fingerprint": cloud.fingerprint,
                "password": CLOUD_PASSWORD, "connection_policy": "local_and_cloud",
            })  # fmt: skip
            server.deploy_first(project)
            wait_for(lambda: server.info()["paths"]["cloud"], "the server's cloud link", 30)
            folder = tmp / "alice"
            run_cli(
                "connect", local.url, "--username", "alice", "--password-stdin",
                "--fingerprint", server.fingerprint, "--config", str(folder),
                stdin=ADMIN_PASSWORD + "\n",
            )  # fmt: skip
            config = ClientConfig.load(folder)
            if not config.server.cloud_known or config.server.connection_policy != (
                "local_and_cloud"
            ):
                raise RuntimeError(f"the client did not learn the cloud path: {config.server}")
            config.settings = ClientSettings(back_to_local_probe_s=0.2)
            print(f"local {config.server.url} (forwarder), cloud "
                  f"{config.server.cloud_url} via relay {config.server.cloud_relay}")  # fmt: skip
            asyncio.run(measure(config, local, rounds))
        finally:
            if local is not None:
                local.stop()
            server.stop()
            cloud.stop()


if __name__ == "__main__":
    main()
