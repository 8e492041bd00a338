"""Floods cost the attacker (DESIGN §5), at the connection level, against real servers.

A connection must finish its TLS handshake and its request head in time; connections
are capped per address and in total (within the open-file limit); WebSockets are capped
while unauthenticated and per device. Several loopback addresses (127.0.0.x) stand for
several clients, so that each test has an address of its own.
"""

from __future__ import annotations

import asyncio
import json
import resource
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from domogate.core import devicekeys
from domogate.settings import ConnectionLimits
from tests.support.processes import (
    CLI,
    ServerProcess,
    cli_env,
    deploy_first,
    free_port,
    new_project,
)
from tests.support.until import wait_for

HEAD_TIMEOUT = 2.0
PER_ADDRESS = 6
LIMITS = (
    f"head_timeout_s={HEAD_TIMEOUT},per_address={PER_ADDRESS},"
    "ws_unauthenticated_per_address=2,ws_per_device=2"
)


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with tiny limits and a project (alice, admin, "alice-password")."""
    tmp = tmp_path_factory.mktemp("limited")
    sp = ServerProcess(
        tmp / "data",
        free_port(),
        tmp / "server.log",
        extra_env={"DOMOGATE_CONNECTION_LIMITS": LIMITS},
    )
    sp.start()
    try:
        deploy_first(new_project(tmp), sp)
        yield sp
    finally:
        sp.stop()


def tcp(server: ServerProcess, source: str) -> socket.socket:
    return socket.create_connection(
        ("127.0.0.1", server.port), timeout=10, source_address=(source, 0)
    )


def tls(server: ServerProcess, source: str) -> ssl.SSLSocket:
    return server.ssl_context().wrap_socket(tcp(server, source))


def read_response(sock: socket.socket) -> bytes:
    """One whole HTTP response (head and a Content-Length body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"closed before the response head: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


INFO_REQUEST = b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def seconds_until_closed(sock: socket.socket, limit: float) -> float:
    """How long until the server closes ``sock`` (fails after ``limit`` seconds)."""
    start = time.monotonic()
    sock.settimeout(limit)
    try:
        while True:
            if not sock.recv(4096):
                break
    except TimeoutError:
        pytest.fail(f"still open after {limit} s")
    except (ConnectionError, ssl.SSLError, OSError):
        pass  # reset, or a TLS connection cut without close_notify: closed all the same
    return time.monotonic() - start


def http_from(server: ServerProcess, source: str) -> httpx.Client:
    transport = httpx.HTTPTransport(verify=server.ssl_context(), local_address=source)
    return httpx.Client(base_url=server.url, transport=transport, timeout=10)


def test_the_default_head_timeout_is_10_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    from domogate.cli.server_cmd import connection_limits

    monkeypatch.delenv("DOMOGATE_CONNECTION_LIMITS", raising=False)
    assert ConnectionLimits().head_timeout_s == 10.0
    assert connection_limits(None, None, None) == ConnectionLimits()
    assert connection_limits(2.5, None, 3) == ConnectionLimits(head_timeout_s=2.5, per_address=3)


def test_a_half_sent_request_head_is_closed_on_time(limited: ServerProcess) -> None:
    sock = tls(limited, "127.0.0.2")
    with sock:
        sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        elapsed = seconds_until_closed(sock, HEAD_TIMEOUT + 5)
    assert HEAD_TIMEOUT - 1 < elapsed < HEAD_TIMEOUT + 2


def test_a_later_head_on_a_keep_alive_connection_must_finish_on_time(
    limited: ServerProcess,
) -> None:
    sock = tls(limited, "127.0.0.2")
    with sock:
        sock.sendall(INFO_REQUEST)
        assert read_response(sock).startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /api/info HTTP/1.1\r\nHost: 12")  # uvicorn's keep-alive stops here
        elapsed = seconds_until_closed(sock, HEAD_TIMEOUT + 8)
    assert elapsed < HEAD_TIMEOUT + 2


@pytest.mark.parametrize(
    "path", ["/api/auth/otp", "/api/auth/password", "/api/maintenance/session"]
)
def test_a_request_body_that_never_comes_is_closed_on_time(
    limited: ServerProcess, path: str
) -> None:
    """A complete head announcing a body, then nothing: the app waits on the body, so only
    the connection's own deadline can free the slot (it used to stay open for good)."""
    sock = tls(limited, "127.0.0.3")
    with sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n".encode()
        )
        elapsed = seconds_until_closed(sock, HEAD_TIMEOUT + 8)
    assert elapsed < HEAD_TIMEOUT + 2


def test_a_trickled_request_body_is_closed_on_time(limited: ServerProcess) -> None:
    """One byte every half second keeps uvicorn's own timers quiet; the body must average
    1 KiB/s after the grace, so the connection is closed soon after the grace."""
    sock = tls(limited, "127.0.0.3")
    with sock:
        sock.sendall(
            b"POST /api/auth/otp HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n"
        )
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < HEAD_TIMEOUT + 8:
            try:
                sock.sendall(b" ")
            except OSError:
                closed = True
                break
            time.sleep(0.5)
            sock.settimeout(0.01)
            try:
                if sock.recv(4096) == b"":
                    closed = True
                    break
            except TimeoutError:
                pass
            except (ConnectionError, ssl.SSLError, OSError):
                closed = True
                break
        elapsed = time.monotonic() - start
    assert closed, "a trickled body kept its connection"
    assert elapsed < HEAD_TIMEOUT + 3


def test_a_connection_that_never_starts_tls_is_closed_on_time(limited: ServerProcess) -> None:
    with tcp(limited, "127.0.0.2") as sock:
        elapsed = seconds_until_closed(sock, HEAD_TIMEOUT + 5)
    assert HEAD_TIMEOUT - 1 < elapsed < HEAD_TIMEOUT + 2


def test_the_per_address_cap_refuses_with_a_clear_answer(limited: ServerProcess) -> None:
    held = []
    try:
        for _ in range(PER_ADDRESS):  # established keep-alive connections: not idle
            sock = tls(limited, "127.0.0.3")
            sock.sendall(INFO_REQUEST)
            assert read_response(sock).startswith(b"HTTP/1.1 200 ")
            held.append(sock)
        with http_from(limited, "127.0.0.3") as c:
            r = c.get("/api/info")
        assert r.status_code == 503, r.text
        assert r.json()["error"]["code"] == "too_many_connections"
        assert r.json()["error"]["message"]
        assert int(r.headers["retry-after"]) > 0
        assert r.headers["connection"] == "close"
        with http_from(limited, "127.0.0.4") as c:  # another address is not concerned
            assert c.get("/api/info").status_code == 200
        held.pop().close()
        deadline = time.monotonic() + 5
        with http_from(limited, "127.0.0.3") as c:
            while True:  # the server sees the close soon after
                r = c.get("/api/info")
                if r.status_code == 200 or time.monotonic() > deadline:
                    break
        assert r.status_code == 200, r.text
    finally:
        for sock in held:
            sock.close()


async def ws_connect(server: ServerProcess, source: str) -> Any:
    return await websockets.connect(
        server.url.replace("https://", "wss://") + "/api/ws",
        ssl=server.ssl_context(),
        local_addr=(source, 0),
        open_timeout=5,
    )


async def closed_with(ws: Any, limit: float = 10) -> tuple[int | None, list[dict[str, Any]]]:
    """Read until the server closes (at most ``limit`` seconds); its close code and what
    it sent before."""
    seen = []
    deadline = time.monotonic() + limit
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                pytest.fail(f"the server did not close the socket; it sent {seen}")
            seen.append(json.loads(await asyncio.wait_for(ws.recv(), left)))
    except (websockets.ConnectionClosed, TimeoutError):
        pass
    return ws.close_code, seen


async def test_unauthenticated_websockets_are_capped_per_address(limited: ServerProcess) -> None:
    source = "127.0.0.5"
    waiting = [await ws_connect(limited, source), await ws_connect(limited, source)]
    try:
        third = await ws_connect(limited, source)
        code, seen = await closed_with(third)
        assert code == 1013
        assert third.close_reason == "too_many_connections"
        assert seen[-1]["error"]["code"] == "too_many_connections", seen
        await waiting.pop().close()
        deadline = time.monotonic() + 5
        while True:  # a place is free again once the server saw the close
            ws = await ws_connect(limited, source)
            await ws.send(json.dumps({"type": "auth", "token": "not-a-token"}))
            code, _ = await closed_with(ws)
            if code != 1013 or time.monotonic() > deadline:
                break
        assert code == 4401  # let in, and refused for its token, not for the cap
    finally:
        for ws in waiting:
            await ws.close()


def sign_in(server: ServerProcess, source: str) -> str:
    key = devicekeys.generate_private_key()
    with http_from(server, source) as c:
        r = c.post(
            "/api/auth/password",
            json={
                "username": "alice",
                "password": "alice-password",
                "device": {"name": "panel", "public_key": devicekeys.public_key_of(key)},
            },
        )
    assert r.status_code == 200, r.text
    return str(r.json()["session"]["token"])


async def ws_signed_in(server: ServerProcess, source: str, token: str) -> Any:
    ws = await ws_connect(server, source)
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws


async def test_signed_in_websockets_are_capped_per_device(limited: ServerProcess) -> None:
    source = "127.0.0.6"
    token = sign_in(limited, source)
    open_ = []
    try:
        for _ in range(2):
            ws = await ws_signed_in(limited, source, token)
            assert json.loads(await ws.recv())["type"] == "hello"
            open_.append(ws)
        third = await ws_signed_in(limited, source, token)
        code, seen = await closed_with(third)
        assert code == 1013
        assert third.close_reason == "too_many_connections"
        assert seen[-1]["error"]["code"] == "too_many_connections", seen
        assert "device" in seen[-1]["error"]["message"]
        # Another device of the same user, same address: not concerned.
        other = await ws_signed_in(limited, source, sign_in(limited, source))
        assert json.loads(await other.recv())["type"] == "hello"
        await other.close()
        await open_.pop().close()
        deadline = time.monotonic() + 5
        while True:
            ws = await ws_signed_in(limited, source, token)
            first = json.loads(await ws.recv())
            if first["type"] == "hello" or time.monotonic() > deadline:
                break
            await ws.close()
        open_.append(ws)
        assert first["type"] == "hello", first
    finally:
        for ws in open_:
            await ws.close()


class LimitedFilesServer(ServerProcess):
    """A server started with ``ulimit -n`` = ``open_files`` (soft and hard)."""

    open_files = 128

    def start(self) -> None:
        limit = self.open_files

        def preexec() -> None:
            resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "server", "--data", str(self.data), "--port", str(self.port),
                 "--log-level", "warning"],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=cli_env(**self.extra_env),
                preexec_fn=preexec,  # the test's own child; it starts no threads
            )  # fmt: skip
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


class IdleFlood:
    """Threads that open idle TCP connections as fast as they can, each from its own
    address, and hold them all (up to ``keep`` each, even those the server closed)."""

    def __init__(self, port: int, sources: list[str], keep: int = 1500) -> None:
        self.port = port
        self.stop = threading.Event()
        self.opened = 0
        self.threads = [
            threading.Thread(target=self._run, args=(source, keep), daemon=True)
            for source in sources
        ]

    def __enter__(self) -> IdleFlood:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(10)

    def _run(self, source: str, keep: int) -> None:
        held: list[socket.socket] = []
        try:
            while not self.stop.is_set():
                try:
                    held.append(
                        socket.create_connection(
                            ("127.0.0.1", self.port), timeout=1, source_address=(source, 0)
                        )
                    )
                    self.opened += 1
                except OSError:
                    self.stop.wait(0.01)
                if len(held) >= keep:
                    self.stop.wait()
        finally:
            for s in held:
                s.close()


def test_a_server_with_128_open_files_survives_a_flood_of_idle_connections(
    tmp_path: Path,
) -> None:
    sp = LimitedFilesServer(tmp_path / "data", free_port(), tmp_path / "server.log")
    sp.start()
    try:
        assert "allows only" in sp.log()  # the operator is told the limit lowered the caps
        with IdleFlood(sp.port, ["127.0.0.1", "127.0.0.2", "127.0.0.3"]) as flood:
            deadline = time.monotonic() + 5  # let the flood take every place it can
            while flood.opened < 600 and time.monotonic() < deadline:
                flood.stop.wait(0.05)
            assert flood.opened >= 600, flood.opened  # far more than the server has files
            answers = []
            deadline = time.monotonic() + 5
            with http_from(sp, "127.0.0.9") as fresh:
                while time.monotonic() < deadline:
                    try:
                        r = fresh.get("/api/info")
                    except (httpx.HTTPError, ssl.SSLError, OSError) as exc:
                        answers.append(repr(exc))
                        continue
                    answers.append(str(r.status_code))
                    if r.status_code == 200:
                        break
            assert answers[-1:] == ["200"], answers
            assert len(answers) <= 2, answers  # at once, not after the flood times out
        assert sp.proc is not None and sp.proc.poll() is None, sp.log()

        def answers_after_the_flood() -> bool:
            # The flood came from 127.0.0.1 too: until the server has seen its hundreds of
            # closes, that source may still be at its cap (refused, not a failure).
            try:
                with sp.http() as c:
                    return c.get("/api/info").status_code == 200
            except (httpx.HTTPError, ssl.SSLError, OSError):
                return False

        wait_for(answers_after_the_flood, "the server answering after the flood", 5)
        assert "Too many open files" not in sp.log(), sp.log()
    finally:
        sp.stop()


async def test_at_the_total_cap_of_waiting_sockets_the_biggest_holder_makes_room(
    tmp_path: Path,
) -> None:
    """Strangers holding every socket that may wait to sign in cannot keep a newcomer's
    live channel out: the source holding the most gives up its oldest."""
    sp = ServerProcess(
        tmp_path / "data",
        free_port(),
        tmp_path / "server.log",
        extra_env={
            "DOMOGATE_CONNECTION_LIMITS": "ws_unauthenticated=4,ws_unauthenticated_per_address=3"
        },
    )
    sp.start()
    held: list[Any] = []
    try:
        deploy_first(new_project(tmp_path), sp)
        for source in ("127.0.0.20", "127.0.0.20", "127.0.0.20", "127.0.0.21"):
            held.append(await ws_connect(sp, source))
        token = sign_in(sp, "127.0.0.22")
        newcomer = await ws_connect(sp, "127.0.0.22")
        await newcomer.send(json.dumps({"type": "auth", "token": token}))
        hello = json.loads(await asyncio.wait_for(newcomer.recv(), 5))
        assert hello["type"] == "hello", hello
        code, seen = await closed_with(held[0])  # the biggest holder's oldest
        assert code == 1013 and seen[-1]["error"]["code"] == "too_many_connections"
        await newcomer.close()
    finally:
        for ws in held:
            await ws.close()
        sp.stop()
