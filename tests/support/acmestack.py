"""A whole stack for the cloud name's certificate: Debian's pebble (its ``tlsPort`` the
relay's port), a real ``domogate cloud serve --zone cloud.test --acme-directory`` and a real
``domogate server --acme-ca-bundle`` linked to it (``tests/support/linked.py``)."""

from __future__ import annotations

import contextlib
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support import pebble as pebble_support
from tests.support.cloudproc import CloudProcess
from tests.support.linked import link_new_server
from tests.support.processes import ServerProcess, free_port

ZONE = "cloud.test"


@dataclass
class Stack:
    pebble: pebble_support.Pebble | None
    cloud: CloudProcess
    server: ServerProcess
    name: str

    @property
    def host(self) -> str:
        return f"{self.name}.{ZONE}"

    def handshake(self, context: ssl.SSLContext, alpn: list[str] | None) -> ssl.SSLSocket:
        """A TLS connection to the relay naming the installation (the caller closes it)."""
        if alpn is not None:
            context.set_alpn_protocols(alpn)
        raw = socket.create_connection(("127.0.0.1", self.cloud.port), timeout=10)
        try:
            return context.wrap_socket(raw, server_hostname=self.host)
        except BaseException:
            raw.close()
            raise

    def browser_context(self) -> ssl.SSLContext:
        """A client that trusts pebble's root only and checks the host name."""
        assert self.pebble is not None
        return ssl.create_default_context(cadata=self.pebble.root_pem().decode())

    def issued_lines(self) -> list[str]:
        return [
            line for line in self.server.log().splitlines()
            if line.startswith(f"cloud certificate for {self.host} issued")
        ]  # fmt: skip


@contextlib.contextmanager
def stack(
    tmp_path: Path, *, acme: str = "pebble", validity_s: int | None = None
) -> Iterator[Stack]:
    """``acme``: ``pebble`` (a real pebble) or ``none`` (no --acme-directory)."""
    cloud_port = free_port()
    peb = None
    args = ["--zone", ZONE]
    server_args: list[str] = []
    with contextlib.ExitStack() as stop:
        if acme == "pebble":
            peb = pebble_support.Pebble(tmp_path / "pebble", cloud_port, validity_s).start()
            stop.callback(peb.stop)
            args += ["--acme-directory", peb.directory]
            server_args += ["--acme-ca-bundle", str(peb.ca_path)]
        cloud = CloudProcess(tmp_path / "cloud", cloud_port, tmp_path / "cloud.log", args)
        stop.callback(cloud.stop)
        server = ServerProcess(
            tmp_path / "home", free_port(), tmp_path / "home.log", extra_args=server_args
        )
        stop.callback(server.stop)
        name = link_new_server(tmp_path, server, cloud)
        yield Stack(peb, cloud, server, name)
