"""Composition root of ``domogate cloud serve``: data folder + database + use cases +
control links + API + the relay's accept loop, on one TLS port.

At start it prints the cloud's ``url``, ``fingerprint`` and ``zone``, then, once the port
accepts connections, one machine-readable line ``ready: {"url", "fingerprint", "zone",
"address"}`` (JSON). SIGTERM or SIGINT stop it cleanly (uvicorn's handlers): links are
closed, the audit flushed, the database closed.
"""

from __future__ import annotations

import asyncio
import functools
import importlib
import json
import logging
import socket
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn

from domogate.cloud.api import CloudApi
from domogate.cloud.datadir import DEFAULT_PORT, CloudConfig, CloudDataDir
from domogate.cloud.links import LinkHub, LinkSettings
from domogate.cloud.pools import PoolRegistry
from domogate.core import cloudwire
from domogate.security.passwords import Passwords
from domogate.services.clock import SystemClock
from domogate.services.cloud.audit import CloudAudit
from domogate.services.cloud.installations import CloudInstallations
from domogate.services.cloud.versions import CloudVersions
from domogate.services.hashing import PasswordWorker
from domogate.settings import Argon2Parameters, ConnectionLimits
from domogate.storage.cloud import open_cloud_store
from domogate.web.connections import GuardedServer, GuardedWebSocketProtocol
from domogate.web.connections.limits import effective_limits, raise_open_files, wanted_open_files
from domogate.web.live.transport import WS_MAX_MESSAGE

log = logging.getLogger("domogate.cloud")

PING_INTERVAL_S = 20.0  # docs/cloud.md: pings every 20 s, dead after 2 missed
PING_TIMEOUT_S = 40.0
WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - names of wildcard binds


TLS_READ_BUFFER = 16 * 1024 + 256
"""asyncio gives every TLS connection a 256 KiB read buffer (``SSLProtocol.max_size``),
zero-filled, so resident: most of an idle control link's memory. TLS records carry at most
16 KiB (plus at most 256 bytes of framing in TLS 1.3), and the cloud terminates TLS only
for its API and control links (relayed clients' TLS is spliced, never decrypted here), so
one record per read costs nothing measurable. ``benchmarks/bench_relay.py``, 1,000 idle
linked installations: 78.4 KiB each with 32 KiB, 62.6 KiB with this."""


def shrink_tls_read_buffer(size: int = TLS_READ_BUFFER) -> None:
    """Lower asyncio's per-connection TLS read buffer in this process (the cloud's)."""
    from asyncio import sslproto

    if getattr(sslproto.SSLProtocol, "max_size", 0) > size:
        sslproto.SSLProtocol.max_size = size


def cloud_connection_limits() -> ConnectionLimits:
    """A cloud's caps: many linked servers may share one address (NAT), each holding a
    control link and a few pool connections."""
    return ConnectionLimits(per_address=4096)


@dataclass(frozen=True)
class CloudSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    zone: str = "localhost"
    public_port: int | None = None  # the port clients see (default: ``port``)
    invite_only: bool = False
    cert: Path | None = None
    key: Path | None = None
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    connections: ConnectionLimits = field(default_factory=cloud_connection_limits)
    pool_size: int = 4
    acme_directory: str | None = None  # told to linked servers (docs/cloud-acme.md)


def certificate_names(zone: str, host: str) -> list[str]:
    names = [zone, "localhost", "127.0.0.1", "::1"]
    if host not in WILDCARDS and host not in names:
        names.append(host)
    return names


def _acceptor_factory(registry: PoolRegistry, zone: str) -> Any:
    """The relay's accept loop (``cloud/relay.py``), or the plain one while the relay's
    data plane is not part of this build (the API and control links still work)."""
    try:
        relay = importlib.import_module("domogate.cloud.relay")
    except ImportError:
        from domogate.web.connections.acceptor import Acceptor

        log.warning("domogate.cloud.relay is missing: serving the cloud API without the relay")
        return Acceptor
    return functools.partial(relay.RelayAcceptor, registry=registry, zone=zone)


class _AnnouncingServer(GuardedServer):
    """Prints the ready line once the port accepts connections."""

    ready_line = ""

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        print(self.ready_line, flush=True)


def run_cloud(settings: CloudSettings, *, log_level: str = "info") -> None:
    from domogate.server import bind_socket

    zone = cloudwire.check_zone(settings.zone)
    config = CloudConfig(
        zone=zone,
        public_port=settings.public_port or settings.port,
        host=settings.host,
        port=settings.port,
    )
    data = CloudDataDir(settings.data_dir)
    data.initialise(
        config,
        hostnames=certificate_names(zone, settings.host),
        cert=settings.cert,
        key=settings.key,
    )
    fingerprint = data.fingerprint
    sock = bind_socket(settings.host, settings.port)
    limits = effective_limits(
        settings.connections, raise_open_files(wanted_open_files(settings.connections))
    )

    async def main() -> None:
        shrink_tls_read_buffer()
        store = await open_cloud_store(data.database_url)
        clock = SystemClock()
        audit = CloudAudit(store, clock)
        worker = PasswordWorker(Passwords(settings.argon2))
        installations = CloudInstallations(
            store, worker, clock, audit, invite_only=settings.invite_only
        )
        versions = CloudVersions(store, worker, clock, audit)
        registry = PoolRegistry()
        hub = LinkHub(
            registry,
            installations,
            versions,
            fingerprint=fingerprint,
            config=config,
            settings=LinkSettings(
                pool_size=settings.pool_size, acme_directory=settings.acme_directory
            ),
        )
        app = CloudApi(hub, versions, operator_token=data.operator_token)
        uv_config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            ssl_certfile=str(data.tls_cert_path),
            ssl_keyfile=str(data.tls_key_path),
            log_level=log_level,
            ws=GuardedWebSocketProtocol,
            ws_per_message_deflate=False,
            ws_max_size=WS_MAX_MESSAGE,
            ws_ping_interval=PING_INTERVAL_S,
            ws_ping_timeout=PING_TIMEOUT_S,
            lifespan="off",
            server_header=False,
        )
        server = _AnnouncingServer(
            uv_config, limits, acceptor_factory=_acceptor_factory(registry, zone)
        )
        server.ready_line = "ready: " + json.dumps(
            {
                "url": config.url,
                "fingerprint": fingerprint,
                "zone": zone,
                "address": config.local_address,
            }
        )
        try:
            await server.serve(sockets=[sock])
        finally:
            await hub.close_all()
            registry.close()
            await audit.close()
            worker.close()
            await store.close()
            sock.close()

    if limits.lowered:
        from domogate.web.connections import describe

        print(describe(limits), file=sys.stderr, flush=True)
    print(
        "\n".join(
            [
                f"domogate cloud listening on {settings.host}:{settings.port}"
                + (" (invite-only)" if settings.invite_only else " (open: first claim wins)"),
                f"url: {config.url}",
                f"fingerprint: {fingerprint}",
                f"zone: {zone}",
                f"data folder: {data.path}",
                *(
                    [f"acme directory for linked servers: {settings.acme_directory}"]
                    if settings.acme_directory
                    else []
                ),
            ]
        ),
        flush=True,
    )
    asyncio.run(main())
