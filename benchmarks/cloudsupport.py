"""What the cloud benchmarks share: a real ``domogate cloud serve`` process, a real
``domogate server`` process, a TCP forwarder that can be cut, home servers' cloud files
kept in memory, the SniTun anchor's scripts, and small process helpers.

Independent of ``tests/`` (``tests/support/cloudproc.py`` holds the tests' version): the
two can change apart. Everything binds 127.0.0.1; every process is stopped by its own PID.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.security.tls import fingerprint_of_pem

# The anchor lives next to the repository (../shared/bench/snitun), or where this says.
_NEXT_TO_REPO = Path(__file__).resolve().parents[2] / "shared" / "bench" / "snitun"
SNITUN_DIR = Path(os.environ.get("DOMOGATE_SNITUN_BENCH", str(_NEXT_TO_REPO)))
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


def run_cli(*args: str, stdin: str | None = None) -> str:
    """``domogate ARGS`` (this checkout's ``src``); its stdout, or an error with its output."""
    proc = subprocess.run(
        [*CLI, *args], input=stdin, capture_output=True, text=True, env=bench_env(),
        timeout=60, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"domogate {' '.join(args)} exited {proc.returncode}:\n"
                           f"{proc.stdout}{proc.stderr}")  # fmt: skip
    return proc.stdout


@dataclass
class HomeServer:
    """``domogate server`` in its own data folder, its output in ``log_path``."""

    data: Path
    log_path: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def fingerprint(self) -> str:
        return fingerprint_of_pem((self.data / "tls" / "cert.pem").read_bytes())

    def http(self) -> httpx.Client:
        ctx = ssl.create_default_context(cafile=self.data / "tls" / "cert.pem")
        ctx.check_hostname = False
        return httpx.Client(base_url=self.url, verify=ctx, timeout=10)

    def info(self) -> dict[str, Any]:
        with self.http() as c:
            body: dict[str, Any] = c.get("/api/info").raise_for_status().json()
        return body

    def start(self, timeout: float = 60) -> HomeServer:
        """Start it and wait until ``GET /api/info`` answers."""
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "server", "--data", str(self.data), "--port", str(self.port),
                 "--log-level", "warning"],
                stdout=log, stderr=subprocess.STDOUT, env=bench_env(),
            )  # fmt: skip
        wait_for(self._answers, f"domogate server on {self.url} (log: {self.log_path})", timeout)
        return self

    def _answers(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            raise RuntimeError(f"domogate server exited; log: {self.log_path}")
        if not (self.data / "tls" / "cert.pem").exists():
            return False
        try:
            self.info()
        except (httpx.HTTPError, ssl.SSLError, OSError):
            return False
        return True

    def deploy_first(self, project: Path) -> None:
        """``domogate deploy`` with the server's setup code, pinned by its fingerprint."""
        code = run_cli("server", "setup-code", "--data", str(self.data)).strip()
        run_cli("deploy", str(project), "--server", self.url, "--setup-code", code,
                "--fingerprint", self.fingerprint)  # fmt: skip

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
        self.proc = None


def wait_for(condition: Any, what: str, timeout: float) -> Any:
    """``condition()``'s first true answer, polled every 50 ms, or TimeoutError."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise TimeoutError(f"timed out after {timeout} s waiting for {what}")


class Forwarder:
    """A TCP byte forwarder on its own thread, standing for a path that can be cut.

    It mirrors ``tests/support/forwarder.py`` (benchmarks may not import ``tests/``).
    ``cut()`` makes it a black hole (open connections stop carrying bytes, new ones are
    accepted and never answered: a Wi-Fi that is gone); ``restore()`` drops every
    connection made before and forwards again.
    """

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.2") -> None:
        self.target, self.host, self.port = target, host, 0
        self.cutting = False
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"

    def start(self) -> Forwarder:
        self._thread.start()
        self._call(self._listen)
        return self

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._handle, self.host, 0)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            if self.cutting:
                await self._pump(reader, None)
                return
            with contextlib.suppress(OSError):
                up_reader, up_writer = await asyncio.open_connection(*self.target)
                self._writers.add(up_writer)
                await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            for one in (writer, up_writer):
                if one is not None:
                    self._writers.discard(one)
                    one.close()

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter | None
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                if self.cutting or writer is None:
                    continue  # a black hole: bytes go nowhere, nothing comes back
                writer.write(data)
                await writer.drain()
            if writer is not None:
                writer.write_eof()

    def cut(self) -> None:
        self.cutting = True

    def restore(self) -> None:
        """Forward again; the connections of before the cut are dropped (they died)."""
        self._call(self._drop_all)
        self.cutting = False

    async def _drop_all(self) -> None:
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def _call(self, make: Any) -> None:
        asyncio.run_coroutine_threadsafe(make(), self._loop).result(10)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            await self._drop_all()

        if self._thread.is_alive():
            self._call(close)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
        self._loop.close()


def bench_key(server_id: str) -> Ed25519PrivateKey:
    """A benchmark home's link key, derived from its id, so that the benchmark knows the
    cloud name (``cloudwire.cloud_name`` of this key) before the home process starts."""
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(server_id.encode()).digest())


class MemoryCloudFiles:
    """A home server's cloud files (``cloud/link.py``'s ``CloudFiles``), in memory."""

    def __init__(self, server_id: str) -> None:
        self._server_id = server_id
        self._key = bench_key(server_id)
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
