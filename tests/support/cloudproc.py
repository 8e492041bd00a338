"""A real ``domogate cloud serve`` process on 127.0.0.1, and a control-link client written
from docs/cloud.md with ``websockets`` and ``core/cloudwire.py`` (what a home server says)."""

from __future__ import annotations

import base64
import json
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect

from domogate.core import cloudwire
from domogate.security.tls import fingerprint_of_der
from tests.support.processes import CLI, cli_env


@dataclass
class CloudProcess:
    data: Path
    port: int
    log_path: Path
    extra_args: list[str] = field(default_factory=list)
    proc: subprocess.Popen[bytes] | None = None
    ready: dict[str, Any] = field(default_factory=dict)

    @property
    def cert_pem(self) -> bytes:
        return (self.data / "tls" / "cert.pem").read_bytes()

    def ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cadata=self.cert_pem.decode())
        ctx.check_hostname = False
        return ctx

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "cloud", "serve", "--data", str(self.data), "--port", str(self.port),
                 "--log-level", "warning", *self.extra_args],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(),
            )  # fmt: skip
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the ready line, printed once it accepts
            if self.proc.poll() is not None:
                raise AssertionError(f"cloud exited {self.proc.returncode}:\n{self.log()}")
            for line in self.log().splitlines():
                if line.startswith("ready: "):
                    self.ready = json.loads(line.removeprefix("ready: "))
                    return
            time.sleep(0.05)
        raise AssertionError(f"cloud did not start:\n{self.log()}")

    def stop(self) -> int | None:
        code = None
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.proc = None
        return code

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class LinkAttempt:
    ws: ClientConnection
    answer: dict[str, Any]
    fingerprint: str  # the certificate this TLS connection saw

    @property
    def pool_key(self) -> bytes:
        return _b64decode(str(self.answer["pool_key"]))


async def open_link(
    cloud: CloudProcess,
    key: Ed25519PrivateKey,
    name: str,
    password: str | None,
    *,
    max_size: int | None = 2**20,
) -> LinkAttempt:
    """Dial ``/api/link``, answer the challenge like a home server, read the answer (the
    connection stays open: close it with ``attempt.ws.close()``). ``max_size``: the
    largest message it accepts (a ``version`` message is tens of MiB)."""
    ws = await connect(
        f"wss://127.0.0.1:{cloud.port}/api/link",
        ssl=cloud.ssl_context(),
        open_timeout=10,
        max_size=max_size,
    )
    ssl_object = ws.transport.get_extra_info("ssl_object")
    fingerprint = fingerprint_of_der(ssl_object.getpeercert(binary_form=True))
    challenge = json.loads(await ws.recv())
    assert challenge["type"] == "challenge"
    nonce = _b64decode(challenge["nonce"])
    assert len(nonce) == cloudwire.NONCE_BYTES
    hello = {
        "type": "hello",
        "name": name,
        "public_key": cloudwire.public_key_text(key.public_key()),
        "signature": cloudwire.sign_link(key, nonce, fingerprint, name),
        "password": password,
    }
    await ws.send(json.dumps(hello))
    answer = json.loads(await ws.recv())
    return LinkAttempt(ws, answer, fingerprint)


async def link_once(
    cloud: CloudProcess, key: Ed25519PrivateKey, name: str, password: str | None
) -> dict[str, Any]:
    attempt = await open_link(cloud, key, name, password)
    await attempt.ws.close()
    return attempt.answer
