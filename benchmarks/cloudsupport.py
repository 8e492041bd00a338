"""What the cloud benchmarks share: a real ``domogate cloud serve`` process, home servers'
cloud files kept in memory, the SniTun anchor's scripts, and small process helpers.

Independent of ``tests/`` (``tests/support/cloudproc.py`` holds the tests' version): the
two can change apart. Everything binds 127.0.0.1; every process is stopped by its own PID.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SNITUN_DIR = Path(os.environ.get("DOMOGATE_SNITUN_BENCH", "/work/shared/bench/snitun"))
SNITUN_BENCH = SNITUN_DIR / "snitun_bench.py"
ANCHOR_PYTHON = "/tmp/anchors/venv/bin/python"  # noqa: S108 - the anchor venv (load, backend)
SNITUN047_PYTHON = "/tmp/anchors/venv-snitun047/bin/python"  # noqa: S108
CLI = [sys.executable, "-m", "domogate"]
HOME_SCRIPT = Path(__file__).with_name("relay_home.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of one process so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def bench_env(**extra: str) -> dict[str, str]:
    """The environment of our processes: this checkout's ``src`` first, cheap Argon2."""
    env = dict(os.environ)
    src = str(Path(__file__).resolve().parent.parent / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    env["DOMOGATE_ARGON2_PROFILE"] = "test"
    env.pop("DOMOGATE_CONFIG", None)
    env.pop("DOMOGATE_DATA", None)
    env["NO_COLOR"] = "1"
    env.update(extra)
    return env


def stop(proc: subprocess.Popen[Any], timeout: float = 15.0) -> None:
    """SIGTERM one child we started (by its PID), SIGKILL if it lingers."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def readline_until(proc: subprocess.Popen[bytes], prefix: str, timeout: float) -> str:
    """Read ``proc``'s stdout until a line starts with ``prefix`` (with a deadline)."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    fd = proc.stdout.fileno()
    buf = b""
    while time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.2)
        if not ready:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args!r} exited {proc.returncode} before {prefix!r}")
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            raise RuntimeError(f"{proc.args!r}: end of output before {prefix!r}")
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            text = line.decode(errors="replace")
            if text.startswith(prefix):
                return text
    raise TimeoutError(f"no {prefix!r} from {proc.args!r} within {timeout} s")


@dataclass
class CloudServe:
    """``domogate cloud serve`` in its own data folder; ``ready`` is its ready line."""

    data: Path
    zone: str = "bench.test"
    port: int = field(default_factory=free_port)
    env_extra: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str:
        return str(self.ready["fingerprint"])

    def start(self) -> CloudServe:
        self.proc = subprocess.Popen(
            [*CLI, "cloud", "serve", "--data", str(self.data), "--port", str(self.port),
             "--zone", self.zone, "--log-level", "warning"],
            stdout=subprocess.PIPE,
            env=bench_env(**self.env_extra),
        )  # fmt: skip
        line = readline_until(self.proc, "ready: ", 60)
        self.ready = json.loads(line.removeprefix("ready: "))
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        self.proc = None


class MemoryCloudFiles:
    """A home server's cloud files (``cloud/link.py``'s ``CloudFiles``), in memory."""

    def __init__(self, server_id: str) -> None:
        self._server_id = server_id
        self._key = Ed25519PrivateKey.generate()
        self._claim: dict[str, str] | None = None

    @property
    def server_id(self) -> str:
        return self._server_id

    def cloud_key(self) -> Ed25519PrivateKey:
        return self._key

    def cloud_claim(self) -> dict[str, str] | None:
        return self._claim

    def save_cloud_claim(self, address: str, fingerprint: str, name: str) -> None:
        self._claim = {"address": address, "fingerprint": fingerprint, "name": name}

    def forget_cloud_claim(self) -> None:
        self._claim = None


def make_cert(folder: Path, hostname: str) -> Path:
    """The anchor's certificate (``snitun_bench.py mkcert``: ECDSA P-256) for ``hostname``."""
    subprocess.run(
        [ANCHOR_PYTHON, str(SNITUN_BENCH), "mkcert", "--hostname", hostname, "--dir", str(folder)],
        check=True,
    )
    return folder
