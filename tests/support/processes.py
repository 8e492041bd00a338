"""Real processes: `domogate server` on 127.0.0.1 and the `domogate` CLI."""

from __future__ import annotations

import atexit
import functools
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

CLI = [sys.executable, "-m", "domogate"]


@functools.cache
def integrator_key_for_tests() -> str:
    """The integrator key file of this test run's CLI processes (``domogate deploy`` makes
    one on first use): a temporary folder of the run, never the user's config folder."""
    folder = tempfile.mkdtemp(prefix="domogate-test-integrator-")
    atexit.register(shutil.rmtree, folder, True)
    return str(Path(folder) / "integrator.key")


def cli_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["DOMOGATE_ARGON2_PROFILE"] = "test"
    env.setdefault("DOMOGATE_INTEGRATOR_KEY", integrator_key_for_tests())
    env.pop("DOMOGATE_CONFIG", None)
    env.pop("DOMOGATE_DATA", None)
    env["NO_COLOR"] = "1"
    env["COLUMNS"] = "200"
    env.update(extra)
    return env


def run(
    *args: str, stdin: str | None = None, check: bool = True, **env: str
) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CLI, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=cli_env(**env),
        timeout=60,
        check=False,
    )
    if check and proc.returncode != 0:
        raise AssertionError(
            f"domogate {' '.join(args)} exited {proc.returncode}\n"
            f"stdout:\n{proc.stdout}\nstderr:\n{proc.stderr}"
        )
    return proc


def run_json(*args: str, stdin: str | None = None, **env: str) -> Any:
    proc = run(*args, "--json", stdin=stdin, **env)
    return json.loads(proc.stdout)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ServerProcess:
    data: Path
    port: int
    log_path: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen[bytes] | None = None
    extra_args: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def cert_pem(self) -> bytes:
        return (self.data / "tls" / "cert.pem").read_bytes()

    @functools.cached_property
    def fingerprint(self) -> str:  # `server info`, asked once: the certificate never changes
        return str(run_json("server", "info", "--data", str(self.data))["fingerprint"])

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.cert_pem.decode())
        ctx.check_hostname = False
        return ctx

    def http(self) -> httpx.Client:
        return httpx.Client(base_url=self.url, verify=self.ssl_context(), timeout=10)

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [
                    *CLI,
                    "server",
                    "--data",
                    str(self.data),
                    "--port",
                    str(self.port),
                    "--log-level",
                    "warning",
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(**self.extra_env),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited {self.proc.returncode}:\n{self.log()}")
            if (self.data / "tls" / "cert.pem").exists():
                try:
                    with self.http() as c:
                        if c.get("/api/info").status_code == 200:
                            return
                except (httpx.HTTPError, ssl.SSLError, OSError):
                    pass
            time.sleep(0.1)
        raise AssertionError(f"server did not start:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def setup_code(self) -> str:
        return run("server", "setup-code", "--data", str(self.data)).stdout.strip()


def new_project(tmp_path: Path, name: str = "Maison", *, otp: bool = True) -> Path:
    """An integrator's project: groups, an admin with a password, a service password."""
    d = tmp_path / "project"
    run(
        "project",
        "new",
        str(d),
        "--name",
        name,
        "--address",
        "127.0.0.1",
        "--otp" if otp else "--no-otp",
    )
    run("project", "password", str(d), "--stdin", stdin="service-secret\n")
    run("project", "group", "add", str(d), "family")
    run("project", "group", "add", str(d), "guests")
    run(
        "project",
        "user",
        "add",
        str(d),
        "alice",
        "--group",
        "family",
        "--admin",
        "--password-stdin",
        stdin="alice-password\n",
    )
    return d


def deploy_first(project: Path, server: ServerProcess) -> subprocess.CompletedProcess[str]:
    """`domogate deploy` with the server's setup code, pinned by its fingerprint."""
    return run(
        "deploy", str(project), "--server", server.url,
        "--setup-code", server.setup_code(), "--fingerprint", server.fingerprint,
    )  # fmt: skip


def connect_with_password(
    server: ServerProcess, username: str, password: str, config: Path
) -> None:
    """`domogate connect` as ``username``, enrolling a CLI device into ``config``."""
    run(
        "connect", server.url, "--username", username, "--password-stdin",
        "--fingerprint", server.fingerprint, "--config", str(config),
        stdin=password + "\n",
    )  # fmt: skip


def redeem_over_http(server: ServerProcess, otp: str, name: str) -> tuple[httpx.Response, Any]:
    """POST /api/auth/otp with a fresh device key; the answer and the key."""
    from domogate.core import devicekeys

    key = devicekeys.generate_private_key()
    with server.http() as c:
        r = c.post(
            "/api/auth/otp",
            json={
                "otp": otp,
                "name": name,
                "device": {"name": "phone", "public_key": devicekeys.public_key_of(key)},
            },
        )
    return r, key
