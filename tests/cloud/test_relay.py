"""The relay's accept loop, in process over real sockets on 127.0.0.1: a GuardedServer
(uvicorn, a tiny ASGI app, the cloud's TLS) behind a RelayAcceptor, a test home that opens
pool connections and answers TLS with its own certificate, and clients from 127.0.0.2."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import os
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from domogate.cloud.pools import PoolRegistry
from domogate.cloud.relay import RelayAcceptor, RouteLimits
from domogate.core import cloudwire
from domogate.security.tls import fingerprint_of_pem, generate_self_signed
from domogate.settings import ConnectionLimits
from domogate.web.connections import GuardedServer, effective_limits
from tests.support.until import until

ZONE = "cloud.test"
NAME = "home1"
KEY = os.urandom(32)
CLIENT_HOST = "127.0.0.2"


async def api(scope: dict[str, Any], receive: Callable[[], Awaitable[Any]], send: Any) -> None:
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"cloud api " + scope["path"].encode()})


def write_cert(folder: Path, host: str) -> tuple[Path, Path, bytes]:
    cert, key = generate_self_signed([host], now=datetime.now(UTC))
    folder.mkdir()
    (folder / "cert.pem").write_bytes(cert)
    (folder / "key.pem").write_bytes(key)
    return folder / "cert.pem", folder / "key.pem", cert


@dataclass
class Home:
    """A home server's pool side: pool connections, then TLS with its own certificate on
    each attached one (an echo that prefixes ``home:``)."""

    port: int
    tls: ssl.SSLContext
    key: bytes = KEY
    attached: list[tuple[str, int]] = field(default_factory=list)
    sockets: list[socket.socket] = field(default_factory=list)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    serving: dict[socket.socket, asyncio.Task[None]] = field(default_factory=dict)
    transports: list[asyncio.BaseTransport] = field(default_factory=list)

    async def open_pool(self, line: bytes | None = None) -> socket.socket:
        loop = asyncio.get_running_loop()
        sock = socket.socket()
        sock.setblocking(False)
        self.sockets.append(sock)
        await loop.sock_connect(sock, ("127.0.0.1", self.port))
        conn_id = os.urandom(16).hex()
        await loop.sock_sendall(sock, line or cloudwire.pool_line(NAME, conn_id, self.key))
        if line is None:
            task = loop.create_task(self._serve(sock, conn_id))
            self.serving[sock] = task
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)
        return sock

    async def _serve(self, sock: socket.socket, conn_id: str) -> None:
        loop = asyncio.get_running_loop()
        line = b""
        while not line.endswith(b"\n"):  # one byte at a time: never past the line
            byte = await loop.sock_recv(sock, 1)
            if not byte:
                return
            line += byte
        self.attached.append(cloudwire.parse_attach_line(line, conn_id, self.key))
        transport, _ = await loop.connect_accepted_socket(Echo, sock, ssl=self.tls)
        self.transports.append(transport)

    def want(self, n: int) -> None:
        for _ in range(n):
            task = asyncio.get_running_loop().create_task(self._open_quietly())
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _open_quietly(self) -> None:
        await self.open_pool()

    async def kill(self, sock: socket.socket) -> None:
        """The home drops one pool connection (its reader first: the fd is reused)."""
        task = self.serving.pop(sock)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        sock.close()

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()
        for transport in self.transports:
            transport.abort()  # type: ignore[attr-defined]
        for s in self.sockets:
            s.close()


class Echo(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def data_received(self, data: bytes) -> None:
        self.transport.write(b"home:" + data)


@dataclass
class Cloud:
    server: GuardedServer
    registry: PoolRegistry
    port: int
    cloud_cert: Path
    home: Home
    home_fingerprint: str

    @property
    def acceptor(self) -> RelayAcceptor:
        acceptor = self.server.servers[0]
        assert isinstance(acceptor, RelayAcceptor)
        return acceptor


async def start_cloud(
    tmp_path: Path,
    *,
    attach_timeout_s: float = 2.0,
    routes: RouteLimits | None = None,
    head_timeout_s: float = 5.0,
) -> tuple[Cloud, asyncio.Task[None]]:
    cert, key, _ = write_cert(tmp_path / "cloud", ZONE)
    home_cert, home_key, home_pem = write_cert(tmp_path / "home", f"{NAME}.{ZONE}")
    home_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    home_tls.load_cert_chain(home_cert, home_key)
    registry = PoolRegistry(attach_timeout_s=attach_timeout_s)
    config = uvicorn.Config(
        api, ssl_certfile=str(cert), ssl_keyfile=str(key), lifespan="off", log_level="warning"
    )
    limits = effective_limits(ConnectionLimits(head_timeout_s=head_timeout_s), None)
    factory = functools.partial(RelayAcceptor, registry=registry, zone=ZONE, routes=routes)
    server = GuardedServer(config, limits, acceptor_factory=factory)
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    task = asyncio.get_running_loop().create_task(server.serve(sockets=[sock]))
    while not server.started:
        assert not task.done(), task
        await asyncio.sleep(0.01)
    home = Home(port, home_tls)
    registry.register(NAME, KEY, home.want)
    cloud = Cloud(server, registry, port, cert, home, fingerprint_of_pem(home_pem))
    return cloud, task


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    c, task = await start_cloud(tmp_path, attach_timeout_s=0.5)
    yield c
    await stop(c, task)


async def stop(c: Cloud, task: asyncio.Task[None]) -> None:
    c.home.close()
    c.registry.close()
    c.server.should_exit = True
    await asyncio.wait_for(task, 10)


def client_socket(host: str = CLIENT_HOST) -> socket.socket:
    sock = socket.socket()
    sock.bind((host, 0))
    sock.setblocking(False)
    return sock


async def tls_client(
    c: Cloud, server_name: str, *, trust_cloud: bool = False, host: str = CLIENT_HOST
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, socket.socket]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if trust_cloud:
        ctx.load_verify_locations(c.cloud_cert)
    else:  # pinned by fingerprint, as domogate's clients do
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    sock = client_socket(host)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", c.port))
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(sock=sock, ssl=ctx, server_hostname=server_name), 5
    )
    return reader, writer, sock


def peer_fingerprint(writer: asyncio.StreamWriter) -> str:
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    return hashlib.sha256(der).hexdigest()


async def closed_by_peer(sock: socket.socket, timeout: float = 5.0) -> bool:
    loop = asyncio.get_running_loop()
    try:
        while await asyncio.wait_for(loop.sock_recv(sock, 1024), timeout):
            pass
    except ConnectionResetError:
        pass
    return True


async def raw(c: Cloud, data: bytes) -> socket.socket:
    loop = asyncio.get_running_loop()
    sock = client_socket()
    await loop.sock_connect(sock, ("127.0.0.1", c.port))
    await loop.sock_sendall(sock, data)
    return sock


async def test_a_client_reaches_its_home_through_the_relay_with_tls_end_to_end(
    cloud: Cloud,
) -> None:
    await cloud.home.open_pool()
    await until(lambda: cloud.registry.idle_count == 1, "a pool connection idle")
    reader, writer, sock = await tls_client(cloud, f"{NAME}.{ZONE}")
    assert peer_fingerprint(writer) == cloud.home_fingerprint  # the home's, not the cloud's
    writer.write(b"hello")
    assert await asyncio.wait_for(reader.readexactly(10), 5) == b"home:hello"
    assert cloud.home.attached == [(CLIENT_HOST, sock.getsockname()[1])]
    # A routed stream holds no slot of the web server.
    assert cloud.server.gate.total == 0
    assert cloud.acceptor.routed == {NAME: 1}
    writer.close()
    await until(lambda: cloud.acceptor.routed_total == 0, "the stream counted out")


async def test_the_zone_itself_and_no_name_reach_the_cloud_api(cloud: Cloud) -> None:
    for name, trust in ((ZONE, True), ("", False), ("elsewhere.example", False)):
        reader, writer, _ = await tls_client(cloud, name, trust_cloud=trust)
        writer.write(b"GET /api/info HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        answer = await asyncio.wait_for(reader.read(), 5)
        assert answer.startswith(b"HTTP/1.1 200") and b"cloud api /api/info" in answer
        writer.close()
    assert cloud.home.attached == []


async def test_an_unknown_label_is_closed(cloud: Cloud) -> None:
    await cloud.home.open_pool()
    with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
        await tls_client(cloud, f"other.{ZONE}")
    assert cloud.registry.idle_count == 1 and cloud.home.attached == []


async def test_without_a_pool_connection_the_client_is_closed_after_the_timeout(
    tmp_path: Path,
) -> None:
    c, task = await start_cloud(tmp_path, attach_timeout_s=0.3)
    wanted: list[int] = []
    c.registry.register(NAME, KEY, wanted.append)  # a home that never opens one
    try:
        loop = asyncio.get_running_loop()
        began = loop.time()
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await tls_client(c, f"{NAME}.{ZONE}")
        assert loop.time() - began >= 0.3
        assert wanted == [1]
        await until(lambda: c.server.gate.total == 0, "the slot released")
        assert c.acceptor.routed_total == 0
    finally:
        await stop(c, task)


async def test_a_client_waiting_gets_the_pool_connection_its_home_opens(cloud: Cloud) -> None:
    reader, writer, _ = await tls_client(cloud, f"{NAME}.{ZONE}")  # home.want opens one
    writer.write(b"x")
    assert await asyncio.wait_for(reader.readexactly(6), 5) == b"home:x"
    writer.close()


@pytest.mark.parametrize("forgery", ["wrong-mac", "unknown-name", "replayed", "garbage-line"])
async def test_a_forged_pool_line_is_refused(cloud: Cloud, forgery: str) -> None:
    conn_id = os.urandom(16).hex()
    lines = {
        "wrong-mac": cloudwire.pool_line(NAME, conn_id, os.urandom(32)),
        "unknown-name": cloudwire.pool_line("stranger", conn_id, KEY),
        "replayed": cloudwire.pool_line(NAME, conn_id, KEY),
        "garbage-line": b"DGPOOL1 " + b"x" * 300,
    }
    if forgery == "replayed":
        first = await cloud.home.open_pool(lines["replayed"])
        await until(lambda: cloud.registry.idle_count == 1, "the first one idle")
    sock = await cloud.home.open_pool(lines[forgery])
    assert await closed_by_peer(sock)
    assert cloud.registry.idle_count == (1 if forgery == "replayed" else 0)
    await until(lambda: cloud.server.gate.total == 0, "no slot held")
    if forgery == "replayed":
        first.close()


async def test_a_pool_line_sent_in_pieces_is_kept(cloud: Cloud) -> None:
    loop = asyncio.get_running_loop()
    line = cloudwire.pool_line(NAME, os.urandom(16).hex(), KEY)
    sock = socket.socket()
    sock.setblocking(False)
    cloud.home.sockets.append(sock)
    await loop.sock_connect(sock, ("127.0.0.1", cloud.port))
    for piece in (line[:3], line[3:20], line[20:]):
        await loop.sock_sendall(sock, piece)
        await asyncio.sleep(0.05)  # separate segments (the relay must wait for more)
    await until(lambda: cloud.registry.idle_count == 1, "the pool connection idle")
    assert cloud.server.gate.total == 0  # counted by the registry, not the web cap


@pytest.mark.parametrize(
    "data", [b"GET / HTTP/1.1\r\nhost: x\r\n\r\n", b"\x00" * 64, b"SSH-2.0-x\r\n"]
)
async def test_anything_else_is_closed(cloud: Cloud, data: bytes) -> None:
    sock = await raw(cloud, data)
    assert await closed_by_peer(sock)
    await until(lambda: cloud.server.gate.total == 0, "the slot released")
    sock.close()


async def test_an_end_in_the_middle_of_a_client_hello_is_closed(cloud: Cloud) -> None:
    sock = await raw(cloud, b"\x16\x03\x01\x02\x00\x01")
    await until(lambda: cloud.server.gate.total == 1, "counted from accept")
    sock.shutdown(socket.SHUT_WR)
    assert await closed_by_peer(sock)
    await until(lambda: cloud.server.gate.total == 0, "the slot released")
    sock.close()


async def test_silence_is_closed_at_the_head_deadline(tmp_path: Path) -> None:
    c, task = await start_cloud(tmp_path, head_timeout_s=0.3)
    try:
        sock = await raw(c, b"\x16\x03")  # a beginning, then nothing
        assert await closed_by_peer(sock)
        await until(lambda: c.server.gate.total == 0, "the slot released")
        sock.close()
    finally:
        await stop(c, task)


async def test_a_pool_connection_that_died_while_idle_is_skipped(cloud: Cloud) -> None:
    dead = await cloud.home.open_pool()
    await cloud.home.open_pool()
    await until(lambda: cloud.registry.idle_count == 2, "two idle")
    await cloud.home.kill(dead)
    reader, writer, _ = await tls_client(cloud, f"{NAME}.{ZONE}")
    writer.write(b"ok")
    assert await asyncio.wait_for(reader.readexactly(7), 5) == b"home:ok"
    assert len(cloud.home.attached) == 1
    writer.close()


async def test_routed_streams_are_capped_per_installation(tmp_path: Path) -> None:
    c, task = await start_cloud(tmp_path, routes=RouteLimits(per_installation=1))
    try:
        await c.home.open_pool()
        await c.home.open_pool()
        await until(lambda: c.registry.idle_count == 2, "two idle")
        reader, writer, _ = await tls_client(c, f"{NAME}.{ZONE}")
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await tls_client(c, f"{NAME}.{ZONE}")
        assert c.registry.idle_count == 1  # the second client took none
        writer.write(b"still")
        assert await asyncio.wait_for(reader.readexactly(10), 5) == b"home:still"
        writer.close()
    finally:
        await stop(c, task)


async def test_one_address_cannot_fill_an_installation(tmp_path: Path) -> None:
    """A stranger's streams are capped per address: the owner's client from another
    address still gets through."""
    c, task = await start_cloud(tmp_path, routes=RouteLimits(per_source=1))
    try:
        for _ in range(3):
            await c.home.open_pool()
        await until(lambda: c.registry.idle_count == 3, "three idle")
        _, stranger, _ = await tls_client(c, f"{NAME}.{ZONE}")
        with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
            await tls_client(c, f"{NAME}.{ZONE}")
        assert c.registry.idle_count == 2  # the stranger's second stream took none
        reader, writer, _ = await tls_client(c, f"{NAME}.{ZONE}", host="127.0.0.3")
        writer.write(b"owner")
        assert await asyncio.wait_for(reader.readexactly(10), 5) == b"home:owner"
        writer.close()
        stranger.close()
    finally:
        await stop(c, task)


async def test_the_logs_hold_no_pool_key_and_no_payload(
    cloud: Cloud, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG", logger="domogate")
    await cloud.home.open_pool()
    reader, writer, _ = await tls_client(cloud, f"{NAME}.{ZONE}")
    writer.write(b"secret-payload")
    await asyncio.wait_for(reader.readexactly(19), 5)
    writer.close()
    await until(lambda: cloud.acceptor.routed_total == 0, "the stream ended")
    assert "routed to home1" in caplog.text
    assert KEY.hex() not in caplog.text and "secret-payload" not in caplog.text


async def test_a_routed_stream_can_have_an_idle_timeout(tmp_path: Path) -> None:
    c, task = await start_cloud(tmp_path, routes=RouteLimits(idle_timeout_s=0.3))
    try:
        await c.home.open_pool()
        reader, writer, _ = await tls_client(c, f"{NAME}.{ZONE}")
        writer.write(b"hi")
        assert await asyncio.wait_for(reader.readexactly(7), 5) == b"home:hi"
        # Then silence both ways: the relay ends the stream (TLS sees the end).
        with contextlib.suppress(ConnectionError, ssl.SSLError):
            assert await asyncio.wait_for(reader.read(), 5) == b""
        await until(lambda: c.acceptor.routed_total == 0, "the stream counted out")
        writer.close()
    finally:
        await stop(c, task)
