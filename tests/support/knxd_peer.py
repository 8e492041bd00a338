"""A real KNX peer for tests: knxd with its dummy bus driver, as in /KNXD.md.

:class:`KnxdPeer` starts knxd in a temporary directory (a unix socket for test clients and
a KNXnet/IP tunnelling server on 127.0.0.1:3671; with ``routing=True`` also KNX/IP routing
on 224.0.23.12), waits until it answers, stops it by PID,
and can stop and start it again on the same socket path and port to simulate a bus drop.
:class:`KnxdClient` talks to knxd's unix socket through ``knxdclient``: it injects
telegrams and records every group telegram it sees, with :meth:`KnxdClient.wait_for`.

knxd joins a multicast group and needs a multicast route, so it runs **only** inside a
private network namespace (``unshare -n``, loopback only, as ``scripts/test.sh`` does).
:func:`netns_problem` says why not when not; :func:`require_private_netns` skips the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import knxdclient
import pytest
from xknx.dpt.payload import DPTArray, DPTBinary
from xknx.knxip import HPAI, DescriptionRequest, KNXIPFrame

from domogate.core.values import encode

SKIP_REASON = (
    "knxd runs only inside a private network namespace: "
    "run ./scripts/test.sh as root (it uses unshare -n)"
)

Payload = DPTArray | DPTBinary

_INI = """\
[main]
name = knxd-test
addr = 0.0.1
client-addrs = 0.0.2:8
connections = server,unix,bus
[server]
server = ets_router
tunnel = tunnel
{router}discover = true
interface = lo
port = {port}
[tunnel]
[router]
[unix]
server = knxd_unix
path = {socket}
systemd-ignore = true
[bus]
driver = dummy
"""


def netns_problem() -> str | None:
    """Why knxd may not be started here, or None when this is a private namespace."""
    if os.environ.get("DOMOGATE_PRIVATE_NETNS") != "1":
        return SKIP_REASON
    names = [name for _, name in socket.if_nameindex()]
    if names != ["lo"]:
        return f"{SKIP_REASON} (interfaces here: {', '.join(names)})"
    if shutil.which("knxd") is None:
        return "knxd is not installed (scripts/system-deps.sh installs it)"
    return None


def require_private_netns() -> None:
    problem = netns_problem()
    if problem is not None:
        pytest.skip(problem)


class KnxdPeer:
    """One knxd process; :meth:`stop` then :meth:`start` brings it back on the same
    socket path and UDP port (a bus drop as clients see it)."""

    def __init__(
        self, workdir: Path | None = None, *, port: int = 3671, routing: bool = False
    ) -> None:
        problem = netns_problem()
        if problem is not None:
            raise RuntimeError(problem)
        self._own_dir = workdir is None
        # unix socket paths are limited to ~100 bytes: keep the directory short
        self.dir = Path(tempfile.mkdtemp(prefix="knxd-")) if workdir is None else workdir
        self.port = port
        self.host = "127.0.0.1"
        self.socket_path = self.dir / "knx.sock"
        self.ini_path = self.dir / "knxd.ini"
        self.log_path = self.dir / "knxd.log"
        router = "router = router\n" if routing else ""  # KNX/IP routing on 224.0.23.12
        self.ini_path.write_text(_INI.format(port=port, socket=self.socket_path, router=router))
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start knxd and return once its unix socket exists and its KNXnet/IP server
        answers a description request."""
        if self.running:
            raise RuntimeError("knxd is already running")
        self.socket_path.unlink(missing_ok=True)  # left behind by a killed knxd
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                ["knxd", str(self.ini_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.starts += 1
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(
                    f"knxd exited with status {self._proc.returncode}: {self.log_tail()}"
                )
            if self.socket_path.exists() and self._answers_description():
                return
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"knxd did not get ready in {timeout} s: {self.log_tail()}")

    def _answers_description(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((self.host, 0))
            sock.settimeout(0.2)
            ip, port = sock.getsockname()
            request = DescriptionRequest(control_endpoint=HPAI(ip_addr=ip, port=port))
            sock.sendto(KNXIPFrame.init_from_body(request).to_knx(), (self.host, self.port))
            try:
                sock.recvfrom(1024)
            except OSError:  # timeout, or port unreachable while knxd starts
                return False
            return True

    def stop(self, *, kill: bool = False, timeout: float = 5.0) -> None:
        """Stop knxd (SIGTERM, or SIGKILL with ``kill``: no goodbye to its clients)."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def restart(self) -> None:
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.dir, ignore_errors=True)

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> KnxdPeer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


# --- telegrams through knxd's unix socket ----------------------------------------------


@dataclass(frozen=True)
class Seen:
    """One group telegram seen on the bus."""

    source: str  # individual address, "0.0.2"
    address: str  # group address, "1/2/3"
    kind: str  # "write", "read" or "response"
    payload: Payload  # as xknx carries it: DPTBinary for 6-bit values, else DPTArray

    @property
    def data(self) -> bytes | int:
        """The payload's raw value: an int for 6-bit values, else the bytes."""
        if isinstance(self.payload, DPTBinary):
            return self.payload.value
        return bytes(self.payload.value)


_KINDS = {
    knxdclient.KNXDAPDUType.WRITE: "write",
    knxdclient.KNXDAPDUType.READ: "read",
    knxdclient.KNXDAPDUType.RESPONSE: "response",
}


def _group(address: str) -> knxdclient.GroupAddress:
    main, middle, sub = (int(p) for p in address.split("/"))
    return knxdclient.GroupAddress(main, middle, sub)


def _encoded(payload: Payload | bytes | int) -> bytes | int:
    if isinstance(payload, DPTBinary):
        return payload.value
    if isinstance(payload, DPTArray):
        return bytes(payload.value)
    return payload


class KnxdClient:
    """A group socket on knxd: inject telegrams, record the ones seen on the bus.

    Use as ``async with KnxdClient(peer.socket_path) as bus: ...``."""

    def __init__(self, socket_path: Path) -> None:
        self._socket_path = socket_path
        self._conn = knxdclient.KNXDConnection()
        self._run: asyncio.Task[None] | None = None
        self.seen: list[Seen] = []
        self._changed = asyncio.Event()

    async def __aenter__(self) -> KnxdClient:
        self._conn.set_group_apdu_handler(self._on_apdu)
        await self._conn.connect(sock=str(self._socket_path))
        self._run = asyncio.create_task(self._conn.run())
        await self._conn.open_group_socket()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        with contextlib.suppress(OSError):  # knxd may be gone already
            await self._conn.stop()
        if self._run is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(self._run, 2)

    def _on_apdu(self, apdu: knxdclient.ReceivedGroupAPDU) -> None:
        value = apdu.payload.value
        payload: Payload = DPTBinary(value) if isinstance(value, int) else DPTArray(tuple(value))
        self.seen.append(Seen(repr(apdu.src), repr(apdu.dst), _KINDS[apdu.payload.type], payload))
        self._changed.set()

    def clear(self) -> None:
        self.seen.clear()

    async def wait_for(self, predicate: Callable[[Seen], bool], timeout: float = 5.0) -> Seen:
        """The first telegram seen (since the last :meth:`clear`) that matches."""
        deadline = asyncio.get_running_loop().time() + timeout
        checked = 0
        while True:
            for telegram in self.seen[checked:]:
                if predicate(telegram):
                    return telegram
            checked = len(self.seen)
            self._changed.clear()
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                seen = ", ".join(f"{t.kind} {t.address} {t.data!r}" for t in self.seen)
                raise AssertionError(
                    f"no matching telegram within {timeout} s; seen: {seen or 'none'}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), left)

    async def _send(
        self, address: str, kind: knxdclient.KNXDAPDUType, payload: Payload | bytes | int
    ) -> None:
        await self._conn.group_write(_group(address), kind, _encoded(payload))

    async def write(self, address: str, payload: Payload | bytes | int) -> None:
        """A GroupValueWrite with a raw payload (an int is a 6-bit value, bytes follow
        the APCI)."""
        await self._send(address, knxdclient.KNXDAPDUType.WRITE, payload)

    async def write_value(self, address: str, dpt: str, value: object) -> None:
        await self.write(address, encode(dpt, value))

    async def respond(self, address: str, dpt: str, value: object) -> None:
        """A GroupValueResponse (the answer to a GroupValueRead)."""
        await self._send(address, knxdclient.KNXDAPDUType.RESPONSE, encode(dpt, value))

    async def read(self, address: str) -> None:
        await self._send(address, knxdclient.KNXDAPDUType.READ, 0)
