"""Local → cloud switch time of a live channel (``local_and_cloud``), over 10 cuts.

A real ``domogate server``; the local path is a byte forwarder on 127.0.0.2 and the cloud
path another on 127.0.0.3 (the relay only copies bytes too). Each round: the follower is
on local with cloud warm; the local forwarder is cut (a black hole); the time until the
follower is on cloud is measured; local is restored and the follower comes back. The
baseline, in the same run: a plain reconnect on the same path (sign-in + live channel).

    PYTHONPATH=src python benchmarks/bench_path_switch.py [--rounds 10]

Reuses the test helpers (``tests/support``: the server process, the forwarder).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import tempfile
import time
from pathlib import Path

from domogate.client.config import ClientConfig, ClientSettings
from domogate.client.follow import LiveFollower
from domogate.core.paths import Plan
from tests.support.forwarder import Forwarder
from tests.support.objects_project import project_with_objects
from tests.support.processes import ServerProcess, deploy_first, free_port, run


async def _until(condition: object, within: float) -> float:
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > within:
            raise RuntimeError("timed out")
        await asyncio.sleep(0.005)
    return time.monotonic() - started


async def measure(config: ClientConfig, local: Forwarder, rounds: int) -> None:
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
            await _until(lambda: follower.warm is not None and follower.warm.alive(), 30)
            count = len(switches)
            local.cut()
            times.append(await _until(lambda n=count: len(switches) > n, 10))
            local.restore()
            await _until(lambda: follower.session.via == "local", 30)
        reader.cancel()
    baseline: list[float] = []
    for _ in range(rounds):
        one = LiveFollower(config, Plan(("local",)))
        started = time.monotonic()
        await one.start()
        baseline.append(time.monotonic() - started)
        await one.aclose()
    print(f"local -> cloud switch over {rounds} cuts: median {statistics.median(times):.3f} s, "
          f"max {max(times):.3f} s (target < 2 s)")  # fmt: skip
    print(f"baseline, a plain reconnect on the same path: median "
          f"{statistics.median(baseline):.3f} s, max {max(baseline):.3f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args()
    os.environ.setdefault("DOMOGATE_ARGON2_PROFILE", "test")
    with tempfile.TemporaryDirectory() as tmp_text:
        tmp = Path(tmp_text)
        server = ServerProcess(tmp / "data", free_port(), tmp / "server.log")
        server.start()
        local = Forwarder(("127.0.0.1", server.port), "127.0.0.2").start()
        cloud = Forwarder(("127.0.0.1", server.port), "127.0.0.3").start()
        try:
            project = project_with_objects(tmp)
            run("project", "set", str(project), "system.cloud.connection_policy", "local_and_cloud")
            deploy_first(project, server)
            folder = tmp / "alice"
            run(
                "connect", f"https://127.0.0.2:{local.port}", "--username", "alice",
                "--password-stdin", "--fingerprint", server.fingerprint, "--config", str(folder),
                stdin="alice-password\n",
            )  # fmt: skip
            config = ClientConfig.load(folder)
            config.server = dataclasses.replace(
                config.server, cloud_url=f"https://maison.test:{cloud.port}",
                cloud_relay=cloud.address,
            )  # fmt: skip
            config.settings = ClientSettings(back_to_local_probe_s=0.2)
            asyncio.run(measure(config, local, args.rounds))
        finally:
            local.stop()
            cloud.stop()
            server.stop()


if __name__ == "__main__":
    main()
