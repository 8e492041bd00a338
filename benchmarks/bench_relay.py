"""The cloud relay against a direct connection and SniTun 0.47's TransportConnector, on the
same TLS echo/bulk load, interleaved; and the relay's memory per idle linked installation.

Three paths, fresh processes for every run, all on 127.0.0.1, TLS end to end (the load
client verifies the bench certificate, made for ``<name>.bench.test`` and used by all three):

- ``direct``: ``snitun_bench.py load`` → ``snitun_bench.py backend``;
- ``snitun047-transport``: load → SniTun 0.47 server → multiplexer → SniTun 0.47 client whose
  TransportConnector terminates TLS in the home process (the spawn sequence of the anchor's
  ``run_snitun.py``);
- ``domogate``: load → ``domogate cloud serve`` (zone ``bench.test``, SNI
  ``<name>.bench.test``) → a pool connection → ``relay_home.py``: our real ``LinkClient``,
  pinned by the cloud's fingerprint, TLS terminated in that process, the anchor's
  ``BackendProto`` behind it.

Every path runs the anchor venv's ``load`` (the same client for all three). Reported:
medians over the runs of the 64 B echo round trip p50 (added vs direct), MB/s both ways,
and the first byte of a new stream (TCP connect + TLS + first echo, p50, added vs direct).

Memory (its own phase): one ``cloud serve``, a warm-up of a few linked installations, then
``--homes`` more linked by one ``relay_home.py`` process (real LinkClients, the cloud's
pool size); the cloud's VmRSS before and after, in KiB per installation. Baseline: the
same process type holding as many idle TLS connections to its API.

    PYTHONPATH=src python benchmarks/bench_relay.py [--reps 5] [--quick] [--results F]

Needs the anchor's venvs (``../shared/bench/snitun/setup_env.sh``, next to the repository).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.cloudsupport import (
    ANCHOR_PYTHON,
    HOME_SCRIPT,
    SNITUN047_PYTHON,
    SNITUN_BENCH,
    CloudServe,
    bench_env,
    cpu_s,
    free_port,
    make_cert,
    readline_until,
    rss_kib,
    bench_key,
    stop,
)
from domogate.core import cloudwire

ZONE = "bench.test"
HOME_ID = "bench-home-0"
PATHS = ("direct", "snitun047-transport", "domogate")


class Bench:
    def __init__(self, tmp: Path, load_args: list[str]) -> None:
        self.tmp = tmp
        self.name = cloudwire.cloud_name(bench_key(HOME_ID).public_key())
        self.hostname = cloudwire.host_of(self.name, ZONE)
        self.certdir = make_cert(tmp / "cert", self.hostname)
        self.load_args = load_args
        self.runs = 0
        self.env = dict(os.environ)
        if "SNITUN_FERNET" not in self.env:
            from cryptography.fernet import Fernet

            self.env["SNITUN_FERNET"] = Fernet.generate_key().decode()

    def anchor(self, python: str, *args: str) -> subprocess.Popen[bytes]:
        common = ["--certdir", str(self.certdir), "--hostname", self.hostname]
        return subprocess.Popen(
            [python, str(SNITUN_BENCH), *args, *common], stdout=subprocess.PIPE, env=self.env
        )

    def one_run(self, path: str) -> dict[str, Any]:
        procs: dict[str, subprocess.Popen[bytes]] = {}
        cloud: CloudServe | None = None
        try:
            if path == "direct":
                port = free_port()
                procs["backend"] = self.anchor(ANCHOR_PYTHON, "backend", "--port", str(port))
                readline_until(procs["backend"], "LISTENING", 30)
            elif path == "snitun047-transport":  # as run_snitun.py's one_run does it
                port, peer = free_port(), free_port()
                procs["snitun_server"] = self.anchor(
                    SNITUN047_PYTHON, "server", "--sni-port", str(port), "--peer-port", str(peer)
                )
                readline_until(procs["snitun_server"], "LISTENING", 30)
                procs["snitun_client"] = self.anchor(
                    SNITUN047_PYTHON, "client", "--peer-port", str(peer), "--connector", "transport"
                )
                readline_until(procs["snitun_client"], "CONNECTED", 60)
                time.sleep(0.5)  # run_snitun.py's own settling pause, kept for the same figures
            else:
                self.runs += 1
                cloud = CloudServe(self.tmp / f"cloud-{self.runs}", ZONE).start()
                assert cloud.proc is not None
                procs["cloud"] = cloud.proc
                procs["home"] = self.home(cloud, 1)
                port = cloud.port
            cpu0 = {k: cpu_s(p.pid) for k, p in procs.items()}
            load = subprocess.run(
                [ANCHOR_PYTHON, str(SNITUN_BENCH), "load", "--port", str(port), "--label", path,
                 "--certdir", str(self.certdir), "--hostname", self.hostname, *self.load_args],
                capture_output=True, text=True, timeout=600, env=self.env,
            )  # fmt: skip
            cpu1 = {k: cpu_s(p.pid) for k, p in procs.items()}
            if load.returncode != 0:
                raise RuntimeError(load.stderr[-2000:])
            row: dict[str, Any] = json.loads(load.stdout.strip().splitlines()[-1])
            row["cpu_s"] = {k: round(cpu1[k] - cpu0[k], 2) for k in procs}
            return row
        finally:
            for key, proc in procs.items():
                if key != "cloud":
                    stop(proc)
            if cloud is not None:
                cloud.stop()

    def home(
        self, cloud: CloudServe, count: int, prefix: str = "bench-home", timeout: float = 60
    ) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, str(HOME_SCRIPT), "--cloud", cloud.address,
             "--fingerprint", cloud.fingerprint, "--certdir", str(self.certdir),
             "--count", str(count), "--prefix", prefix, "--timeout", str(timeout)],
            stdout=subprocess.PIPE, env=bench_env(),
        )  # fmt: skip
        readline_until(proc, "READY", timeout + 5)
        return proc


# --- memory -------------------------------------------------------------------------------


def settled_rss(pid: int, within: float = 30.0) -> int:
    """VmRSS once two reads 0.5 s apart agree within 0.5 % (the last pool lines arrive
    a moment after the home side counts them sent)."""
    deadline = time.monotonic() + within
    last = rss_kib(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_kib(pid)
        if abs(now - last) <= last * 0.005:
            return now
        last = now
    return last


def memory(bench: Bench, homes: int) -> dict[str, Any]:
    limits = f"per_address={homes * 6 + 200},total={homes * 6 + 200},head_timeout_s=120"
    cloud = CloudServe(bench.tmp / "cloud-memory", ZONE, env_extra={
        "DOMOGATE_CONNECTION_LIMITS": limits}).start()  # fmt: skip
    procs: list[subprocess.Popen[bytes]] = []
    try:
        assert cloud.proc is not None
        pid = cloud.proc.pid
        at_ready = settled_rss(pid)
        procs.append(bench.home(cloud, 20, prefix="warm"))
        warm = settled_rss(pid)
        started = time.monotonic()
        procs.append(bench.home(cloud, homes, prefix="many", timeout=600))
        link_s = time.monotonic() - started
        linked = settled_rss(pid)
    finally:
        for proc in procs:
            stop(proc)
        cloud.stop()
    plain = plain_tls_baseline(bench, homes)
    return {
        "homes": homes,
        "rss_ready_kib": at_ready,
        "rss_warm_kib": warm,
        "rss_linked_kib": linked,
        "kib_per_installation": round((linked - warm) / homes, 1),
        "link_all_s": round(link_s, 1),
        **plain,
    }


def plain_tls_baseline(bench: Bench, count: int) -> dict[str, Any]:
    """A fresh cloud process holding ``count`` idle TLS connections to its own API."""
    limits = f"per_address={count + 200},total={count + 200},head_timeout_s=120"
    cloud = CloudServe(bench.tmp / "cloud-plain", ZONE, env_extra={
        "DOMOGATE_CONNECTION_LIMITS": limits}).start()  # fmt: skip
    try:
        assert cloud.proc is not None
        pid = cloud.proc.pid
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE

        async def hold() -> int:
            writers = []
            for _ in range(10):  # warm-up
                _, w = await asyncio.open_connection(
                    "127.0.0.1", cloud.port, ssl=ctx, server_hostname=ZONE
                )
                writers.append(w)
            before = settled_rss(pid)
            for _ in range(count):
                _, w = await asyncio.open_connection(
                    "127.0.0.1", cloud.port, ssl=ctx, server_hostname=ZONE
                )
                writers.append(w)
            after = await asyncio.to_thread(settled_rss, pid)
            for w in writers:
                w.close()
            return after - before

        delta = asyncio.run(hold())
    finally:
        cloud.stop()
    return {"plain_tls_kib_per_connection": round(delta / count, 1)}


# --- the table ----------------------------------------------------------------------------


def med(rows: list[dict[str, Any]], path: str, get: Callable[[dict[str, Any]], float]) -> float:
    values = [get(r) for r in rows if r["path"] == path]
    return statistics.median(values) if values else float("nan")


def ratio(a: float, b: float) -> float:
    return a / b if b else float("nan")


def table(rows: list[dict[str, Any]], mem: dict[str, Any] | None, reps: int) -> str:
    def rtt(r: dict[str, Any]) -> float:
        return float(r["rtt_us"]["p50"])

    def first(r: dict[str, Any]) -> float:
        return float(r["handshake_us"]["p50"])

    def down(r: dict[str, Any]) -> float:
        return float(r["down_MBps"])

    def up(r: dict[str, Any]) -> float:
        return float(r["up_MBps"])

    d, s, o = PATHS
    lines = [
        f"medians of {reps} interleaved runs (direct / SniTun 0.47 transport / domogate)",
        "",
        "| measure | direct | SniTun 0.47 | domogate | ours vs SniTun | target |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for label, get in (("64 B echo RTT p50 µs", rtt), ("first byte of a new stream µs", first)):
        dv, sv, ov = med(rows, d, get), med(rows, s, get), med(rows, o, get)
        target = "≤ 0.5" if get is rtt else "≤ +1,000 µs (pool hit)"
        lines.append(
            f"| {label} | {dv:,.0f} | {sv:,.0f} (+{sv - dv:,.0f}) | {ov:,.0f} (+{ov - dv:,.0f})"
            f" | added ×{ratio(ov - dv, sv - dv):.2f} | {target} |"
        )
    for label, get in (("home → client MB/s", down), ("client → home MB/s", up)):
        dv, sv, ov = med(rows, d, get), med(rows, s, get), med(rows, o, get)
        lines.append(
            f"| {label} | {dv:,.0f} | {sv:,.0f} | {ov:,.0f} | ×{ratio(ov, sv):.2f}"
            f" (direct ×{ratio(ov, dv):.2f}) | ≥ 2 (direct ≥ 0.85) |"
        )
    cpu = {}
    for path in PATHS:
        procs = [r["cpu_s"] for r in rows if r["path"] == path]
        if procs:
            cpu[path] = {k: statistics.median(p[k] for p in procs) for k in procs[0]}
    lines += ["", f"CPU s per load run (median): {json.dumps(cpu)}"]
    if mem is not None:
        lines += [
            "",
            f"memory: {mem['homes']:,} idle linked installations: "
            f"{mem['kib_per_installation']} KiB each in the cloud process (target ≤ 64); "
            f"VmRSS {mem['rss_warm_kib']:,} → {mem['rss_linked_kib']:,} KiB "
            f"(at ready {mem['rss_ready_kib']:,}; linked in {mem['link_all_s']} s); "
            f"baseline: an idle TLS connection to the API costs "
            f"{mem['plain_tls_kib_per_connection']} KiB",
        ]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--quick", action="store_true", help="1 run, 20 MiB bulk, 100 homes")
    p.add_argument("--paths", default=",".join(PATHS))
    p.add_argument("--rtts", type=int, default=1000)
    p.add_argument("--connects", type=int, default=100)
    p.add_argument("--bulk-mb", type=int, default=100)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--homes", type=int, default=1000)
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--results", help="append every run's JSON line to this file")
    a = p.parse_args()
    if a.quick:
        a.reps, a.bulk_mb, a.homes = 1, 20, 100
    load_args = ["--rtts", str(a.rtts), "--connects", str(a.connects),
                 "--bulk-mb", str(a.bulk_mb), "--size", str(a.size)]  # fmt: skip
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-relay-") as tmp_text:
        bench = Bench(Path(tmp_text), load_args)
        for rep in range(a.reps):
            for path in a.paths.split(","):
                row = bench.one_run(path)
                row["rep"] = rep
                rows.append(row)
                print(json.dumps(row), flush=True)
                if a.results:
                    with open(a.results, "a") as f:
                        f.write(json.dumps(row) + "\n")
        mem = None if a.no_memory else memory(bench, a.homes)
        if mem is not None:
            print(json.dumps({"memory": mem}), flush=True)
    print(table(rows, mem, a.reps))


if __name__ == "__main__":
    main()
