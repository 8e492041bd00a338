"""The two ways to one server: a :class:`Route` says where to dial and what to name.

- ``local``: the recorded server URL; dial its host and port, TLS server name = its host;
- ``cloud``: the cloud URL ``https://<name>.<zone>[:port]``; dial the relay's ``HOST:PORT``
  (no DNS needed), TLS server name (SNI) and ``Host`` = the cloud URL's host, so that the
  relay routes the connection to the home server by its ClientHello.

Both use the same pinned certificate (:func:`~domogate.client.pinning.pinned_ssl_context`):
through the relay the client meets the home server's own certificate, end to end.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from domogate.client.api import normalise_base_url
from domogate.client.config import ServerEntry
from domogate.client.pinning import host_port
from domogate.core.paths import CLOUD, LOCAL, NO_CLOUD_URL
from domogate.errors import InvalidInput


@dataclass(frozen=True)
class Route:
    path: str  # local | cloud
    url: str  # the URL the server is known by on this path (Host, messages)
    dial_host: str
    dial_port: int
    server_hostname: str  # TLS SNI

    @property
    def via_relay(self) -> bool:
        return self.path == CLOUD

    @property
    def dial_url(self) -> str:
        """``scheme://dial_host:dial_port``: where the HTTP client connects."""
        scheme = urlsplit(self.url).scheme
        host = f"[{self.dial_host}]" if ":" in self.dial_host else self.dial_host
        return f"{scheme}://{host}:{self.dial_port}"

    @property
    def host_header(self) -> str:
        return urlsplit(self.url).netloc


def local_route(url: str) -> Route:
    base = normalise_base_url(url)
    host, port = host_port(base)
    return Route(LOCAL, base, host, port, host)


def parse_relay(relay: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[v6]:PORT``) of a relay; ``InvalidInput`` otherwise."""
    text = relay.strip()
    try:
        parts = urlsplit("//" + text)
        host, port = parts.hostname, parts.port
    except ValueError:
        host, port = None, None
    if not host or port is None or parts.path or parts.username:
        raise InvalidInput(f"Not a relay address: {relay!r} (expected HOST:PORT).", field="relay")
    return host, port


def cloud_route(cloud_url: str, relay: str) -> Route:
    base = normalise_base_url(cloud_url)
    if not base.startswith("https://"):
        raise InvalidInput(f"The cloud URL {cloud_url!r} is not https://.", field="cloud")
    host, _ = host_port(base)
    dial_host, dial_port = parse_relay(relay)
    return Route(CLOUD, base, dial_host, dial_port, host)


def route_of(server: ServerEntry, path: str) -> Route:
    """The route of ``path`` for this server; ``InvalidInput`` when the cloud path is
    asked for and no cloud URL is recorded."""
    if path == LOCAL:
        return local_route(server.url)
    if not (server.cloud_url and server.cloud_relay):
        raise InvalidInput(NO_CLOUD_URL, field="path")
    return cloud_route(server.cloud_url, server.cloud_relay)
