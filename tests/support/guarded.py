"""The real web server in the test's loop: TLS, :class:`GuardedServer` (the accept loop of
production), over ``make_env`` services; raw HTTP/1.1 over any socket, e.g. one handed to
the server as relayed (``accept_relayed``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from domogate.server import bind_socket, connection_limits, uvicorn_config
from domogate.storage.datadir import DataDir
from domogate.web.app import create_app
from domogate.web.connections import GuardedServer
from tests.support.services_env import Env


@dataclass
class Guarded:
    env: Env
    server: GuardedServer
    task: asyncio.Task[None]
    data: DataDir
    port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def client_context(self) -> ssl.SSLContext:
        """Trusts exactly the server's certificate (as a pinned client does)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.load_verify_locations(cadata=self.data.certificate_pem().decode())
        return context

    def relayed_pair(self, host: str, port: int) -> socket.socket:
        """A socket pair whose server end goes in through ``accept_relayed`` (as the cloud
        link does once an attach line is checked); the client end is returned."""
        server_end, client_end = socket.socketpair()
        self.server.accept_relayed(server_end, host, port)
        return client_end

    async def stop(self) -> None:
        self.server.should_exit = True
        await self.task


async def start_guarded(
    env: Env, tmp_path: Path, *, head_timeout_s: float | None = None
) -> Guarded:
    data = DataDir(tmp_path / "data")
    data.initialise()
    settings = env.services.settings
    if head_timeout_s is not None:
        settings = dataclasses.replace(
            settings,
            connections=dataclasses.replace(settings.connections, head_timeout_s=head_timeout_s),
        )
    app = create_app(settings, env.services)
    config = uvicorn_config(app, settings, data, "warning")
    sock = bind_socket("127.0.0.1", 0)
    server = GuardedServer(config, connection_limits(settings))
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    async with asyncio.timeout(10):
        while not server.started:
            if task.done():
                task.result()
            await asyncio.sleep(0.005)
    return Guarded(env, server, task, data, sock.getsockname()[1])


async def http_over(
    sock: socket.socket | None,
    context: ssl.SSLContext,
    method: str,
    path: str,
    *,
    body: Any = None,
    headers: dict[str, str] | None = None,
    port: int | None = None,
) -> tuple[int, Any]:
    """One request over TLS on ``sock`` (or a new connection to 127.0.0.1:``port``),
    ``Connection: close``; (status, JSON body or None)."""
    if sock is not None:
        reader, writer = await asyncio.open_connection(
            sock=sock, ssl=context, server_hostname="localhost"
        )
    else:
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, ssl=context, server_hostname="localhost"
        )
    payload = b"" if body is None else json.dumps(body).encode()
    lines = [f"{method} {path} HTTP/1.1", "Host: localhost", "Connection: close"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(payload)}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + payload)
    await writer.drain()
    async with asyncio.timeout(10):
        raw = await reader.read()
    writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    if b"transfer-encoding: chunked" in head.lower():
        content = _unchunk(content)
    return status, json.loads(content) if content.strip() else None


def _unchunk(data: bytes) -> bytes:
    out = b""
    while data:
        size_text, _, rest = data.partition(b"\r\n")
        size = int(size_text, 16)
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2 :]
    return out
