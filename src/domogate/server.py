"""Composition root of the server: data folder + storage + services + web app + uvicorn."""

from __future__ import annotations

import asyncio
import errno
import logging
import secrets
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import uvicorn
from cryptography import x509

from domogate.assembly import build_services
from domogate.bus.factory import build_bus
from domogate.core.lanaddress import choose, is_wildcard
from domogate.errors import AddressInUse, InvalidInput
from domogate.lanprobe import Probe, lan_candidates
from domogate.services.clock import SystemClock
from domogate.services.container import Services
from domogate.services.ports import CertificateKeeper, CloudLink
from domogate.settings import ServerSettings
from domogate.storage.datadir import DataDir
from domogate.storage.sql import open_store

if TYPE_CHECKING:
    from domogate.web.connections import EffectiveLimits, GuardedServer

log = logging.getLogger("domogate.server")


@dataclass
class OpenedServer:
    data: DataDir
    services: Services
    first_start: bool


def with_lan_addresses(settings: ServerSettings, probe: Probe = lan_candidates) -> ServerSettings:
    """``settings`` with this machine's LAN addresses when it listens on every address and
    no ``--advertise`` is given (join links then carry one: ``core/lanaddress.py``)."""
    if settings.advertise or not is_wildcard(settings.host):
        return settings
    return replace(settings, lan_candidates=tuple(probe()))


def prepare_data(settings: ServerSettings) -> tuple[DataDir, bool]:
    """The data folder, created if need be; a new certificate names the advertised address
    too (an existing certificate is never replaced: its fingerprint is pinned)."""
    data = DataDir(settings.data_dir)
    hosts = ["localhost", "127.0.0.1", "::1"]
    at_start = choose(
        settings.host, advertise=settings.advertise, lan_candidates=settings.lan_candidates
    )
    for host in (settings.host, at_start.host):
        if host not in hosts and not is_wildcard(host):
            hosts.append(host)
    first = data.initialise(hostnames=hosts)
    return data, first


def certificate_names(cert_pem: bytes) -> list[str]:
    """The DNS names and IP addresses of a certificate's subjectAltName."""
    cert = x509.load_pem_x509_certificate(cert_pem)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    names: list[str] = list(san.get_values_for_type(x509.DNSName))
    names += [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return names


def advertised_lines(services: Services, data: DataDir) -> str:
    """What join links carry and why; and, when the certificate does not name that
    address, that a browser will ask once to accept it (pinned clients do not mind)."""
    chosen = services.advertised()
    lines = [chosen.describe()]
    if not services.settings.insecure_http:
        names = [n.lower() for n in certificate_names(data.certificate_pem())]
        if chosen.host.strip("[]").lower() not in names:
            lines.append(
                f"  the certificate does not name {chosen.host} (its fingerprint stays the "
                "same): a browser opening the link asks once to accept it, as for any "
                "self-signed certificate; check the fingerprint. `domogate connect` pins "
                "the fingerprint and does not ask."
            )
    return "\n".join(lines)


async def open_services(
    settings: ServerSettings,
    data: DataDir,
    cloud_link: CloudLink | None = None,
    certificate_keeper: CertificateKeeper | None = None,
) -> Services:
    store = await open_store(data.database_url)
    before_commit: Callable[[], Awaitable[None]] | None = None
    if settings.deploy_pause_s > 0:
        pause = settings.deploy_pause_s

        async def before_commit() -> None:
            sys.stderr.write("deploy: committing (fault injection pause)\n")
            sys.stderr.flush()
            await asyncio.sleep(pause)

    return build_services(
        settings=settings,
        store=store,
        clock=SystemClock(),
        server_id=data.server_id,
        otp_key=data.derive_key("otp-digest"),
        seal_key=data.derive_key("otp-seal"),
        fingerprint=None if settings.insecure_http else data.fingerprint,
        setup_codes=data,
        randbelow=secrets.randbelow,
        deploy_before_commit=before_commit,
        bus=build_bus(settings.bus),
        cloud_link=cloud_link,
        certificate_keeper=certificate_keeper,
    )


INSECURE_WARNING = (
    "WARNING: plain HTTP (--insecure-http): passwords and OTPs cross the network "
    "unencrypted. Use only for development."
)


def bind_socket(host: str, port: int) -> socket.socket:
    """Bind the listening socket before announcing anything (clear error if taken)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise AddressInUse(
                f"{host}:{port} is already in use (another domogate server?); "
                "stop it or choose another --port."
            ) from exc
        raise InvalidInput(f"Cannot listen on {host}:{port}: {exc.strerror or exc}.") from exc
    sock.set_inheritable(True)
    return sock


def banner(settings: ServerSettings, data: DataDir, first_start: bool) -> str:
    where = settings.local_url()
    if is_wildcard(settings.host):
        where += " (every address of this machine)"
    lines = [f"domogate server listening on {where}"]
    if not settings.insecure_http:
        lines.append(f"TLS certificate SHA-256 fingerprint: {data.fingerprint}")
    lines.append(f"server id: {data.server_id}")
    lines.append(f"data folder: {data.path}")
    code = data.setup_code()
    if code is not None:
        lines.append(
            f"setup code for the first deploy: {code}"
            + ("" if first_start else "  (no project deployed yet)")
        )
    return "\n".join(lines)


def uvicorn_config(
    app: Any, settings: ServerSettings, data: DataDir, log_level: str = "info"
) -> uvicorn.Config:
    """How domogate runs uvicorn: TLS from the data folder, the sans-I/O websockets stack
    without compression (memory per idle client), bounded client messages. Served by
    :func:`guarded_server` (connection caps, request-head deadline)."""
    from domogate.web.app import asgi_entry
    from domogate.web.connections import GuardedWebSocketProtocol
    from domogate.web.live import WS_MAX_MESSAGE

    return uvicorn.Config(
        asgi_entry(app),
        host=settings.host,
        port=settings.port,
        ssl_certfile=None if settings.insecure_http else str(data.tls_cert_path),
        ssl_keyfile=None if settings.insecure_http else str(data.tls_key_path),
        log_level=log_level,
        ws=GuardedWebSocketProtocol,  # uvicorn's "websockets-sansio", counted per socket
        ws_per_message_deflate=False,
        ws_max_size=WS_MAX_MESSAGE,
        lifespan="on",
        server_header=False,
        proxy_headers=settings.trust_proxy_headers,
    )


def print_flushed(line: str) -> None:
    print(line, flush=True)


def announce_cloud(name: str, address: str) -> None:
    print(f"cloud enabled: linking to {address} as installation {name}", flush=True)


class LinkedAnnouncer:
    """Prints the cloud URL when the link comes up with a URL not printed before (join
    links made before that carry no cloud path; reconnections to the same URL stay quiet)."""

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, url: str) -> None:
        if url != self.last:
            self.last = url
            print(f"cloud linked: {url} (join links made from now on carry it)", flush=True)


def connection_limits(settings: ServerSettings) -> EffectiveLimits:
    """The connection caps in force: the settings' ones, within the open-file limit (its
    soft value is raised towards the hard one first)."""
    from domogate.web.connections import effective_limits, raise_open_files, wanted_open_files

    limits = settings.connections
    return effective_limits(limits, raise_open_files(wanted_open_files(limits)))


def guarded_server(config: uvicorn.Config, limits: EffectiveLimits) -> GuardedServer:
    """uvicorn's server behind domogate's accept loop (``serve(sockets=[sock])``): caps
    per address and in total, TLS handshake and request heads within a deadline."""
    from domogate.web.connections import GuardedServer

    return GuardedServer(config, limits)


def run_server(settings: ServerSettings, *, log_level: str = "info") -> None:
    settings = with_lan_addresses(settings)
    data, first = prepare_data(settings)
    sock = bind_socket(settings.host, settings.port)
    limits = connection_limits(settings)

    async def main() -> None:
        from domogate.cloud.acme import AcmeKeeper
        from domogate.cloud.link import LinkClient

        link: LinkClient | None = None
        keeper: AcmeKeeper | None = None
        if not settings.insecure_http:
            link = LinkClient(data, on_start=announce_cloud, on_linked=LinkedAnnouncer())
            keeper = AcmeKeeper(
                data.path / "acme", ca_bundle=settings.acme_ca_bundle, announce=print_flushed
            )
        services = await open_services(settings, data, link, keeper)
        await services.load_project()  # for the project's server.address (start loads it too)
        print(advertised_lines(services, data), flush=True)
        from domogate.web.app import create_app

        app = create_app(settings, services)
        config = uvicorn_config(app, settings, data, log_level)
        server = guarded_server(config, limits)
        if link is not None:
            link.on_stream = server.accept_relayed
        if keeper is not None:
            server.relayed_tls = keeper.choose
        try:
            await server.serve(sockets=[sock])
        finally:
            await services.close()
            sock.close()

    if settings.insecure_http:
        print(INSECURE_WARNING, file=sys.stderr, flush=True)
    if limits.lowered:
        from domogate.web.connections import describe

        print(describe(limits), file=sys.stderr, flush=True)
    print(banner(settings, data, first), flush=True)
    asyncio.run(main())
