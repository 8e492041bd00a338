"""The control links (``GET /api/link``, WebSocket), as ``docs/cloud.md`` specifies them:
challenge → hello → welcome or error; then ``pool`` wants and ``released``, and the
version messages of ``docs/cloud-publish.md`` (``linkversions.py``): ``version_available``
after the welcome and on every publish, ``get_version`` answered, ``version_result``
recorded. What a server sends is small: the link's inbound limit stays uvicorn's
``ws_max_size`` (64 KiB).

Served straight on ASGI (``web/live/transport.RawSocket``), no framework: an idle linked
installation costs its TLS connection, uvicorn's WebSocket protocol, one coroutine waiting
in ``receive()`` and a :class:`ControlLink` of a few slots.

On a welcome the link gets a fresh pool key and is registered with the relay's
:class:`~domogate.cloud.pools.PoolRegistry`; when it ends, it is unregistered (the relay
closes its idle pool connections: the key dies with the link). A newer link of the same
name (necessarily the same key: another key is refused ``cloud_taken``) replaces the older
one, which is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from starlette.types import Receive, Scope, Send

from domogate.cloud.datadir import CloudConfig
from domogate.cloud.linkversions import LinkVersions
from domogate.cloud.pools import LinkEntry, PoolRegistry
from domogate.core import cloudwire
from domogate.core.cloudversions import VersionInfo
from domogate.core.devicekeys import b64url_encode
from domogate.errors import AuthTimeout, DomogateError, InvalidInput, RateLimited
from domogate.services.cloud.installations import CloudInstallations, LinkHello
from domogate.services.cloud.versions import CloudVersions
from domogate.web.live.transport import Disconnected, RawSocket

log = logging.getLogger("domogate.cloud.links")

LINK_PATH = "/api/link"
HELLO_TIMEOUT_S = 10.0
CLOSE_NORMAL = 1000
CLOSE_RELEASED = 4000


@dataclass(frozen=True)
class LinkSettings:
    pool_size: int = 4
    hello_timeout_s: float = HELLO_TIMEOUT_S
    # Told to every linked server in its welcome: where to get its cloud name's
    # certificate by ACME (``serve --acme-directory``; docs/cloud-acme.md). None: not sent.
    acme_directory: str | None = None


class ControlLink:
    """One welcomed control link: how to reach its server, and what it asked for."""

    __slots__ = ("entry", "name", "socket", "source", "wanted")

    def __init__(self, name: str, socket: RawSocket, source: str | None = None) -> None:
        self.name = name
        self.socket = socket
        self.source = source
        self.entry: LinkEntry | None = None
        self.wanted = 0  # pool connections asked for, not yet sent


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def _relay_address(scope: Scope, config: CloudConfig) -> str:
    """``HOST:PORT`` the server used to reach this cloud (its Host header)."""
    host = (_header(scope, b"host") or "").strip()
    if not host or len(host) > 255 or any(c in host for c in " /\\@"):
        return f"{config.zone}:{config.public_port}"
    if host.startswith("["):
        return host if "]:" in host else f"{host}:443"
    return host if ":" in host else f"{host}:443"


class LinkHub:
    """Every live control link by installation name."""

    def __init__(
        self,
        registry: PoolRegistry,
        installations: CloudInstallations,
        versions: CloudVersions,
        *,
        fingerprint: str,
        config: CloudConfig,
        settings: LinkSettings | None = None,
    ) -> None:
        self.registry = registry
        self.installations = installations
        self.versions = LinkVersions(versions)
        versions.subscribe(self._published)
        self.fingerprint = fingerprint
        self.config = config
        self.settings = settings or LinkSettings()
        self.links: dict[str, ControlLink] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    # --- the endpoint --------------------------------------------------------------------

    async def asgi(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        if message["type"] != "websocket.connect":
            return
        await send({"type": "websocket.accept"})
        socket = RawSocket(receive, send)
        try:
            link = await self._handshake(scope, socket)
        except Disconnected:
            return
        if link is None:
            return
        try:
            await self.versions.announce_latest(link.name, socket)
            while True:
                text = await socket.receive_text()
                try:
                    data: Any = json.loads(text)
                except ValueError:
                    log.warning("control link %s: a message that is not JSON, ignored", link.name)
                    continue
                await self.versions.handle(link.name, socket, data, link.source)
                # any other message type: ignored (newer servers may say more)
        except (Disconnected, InvalidInput):
            pass
        finally:
            self._ended(link)

    async def _handshake(self, scope: Scope, socket: RawSocket) -> ControlLink | None:
        nonce = secrets.token_bytes(cloudwire.NONCE_BYTES)
        await socket.send_text(json.dumps({"type": "challenge", "nonce": b64url_encode(nonce)}))
        client = scope.get("client")
        source = str(client[0]) if client else None
        try:
            async with asyncio.timeout(self.settings.hello_timeout_s):
                text = await socket.receive_text()
            try:
                data: Any = json.loads(text)
            except ValueError as exc:
                raise InvalidInput("The hello must be a JSON object.") from exc
            hello = LinkHello.from_message(data)
            linked = await self.installations.authorise_link(
                hello, nonce=nonce, fingerprint=self.fingerprint, source=source
            )
        except TimeoutError:
            await self._refuse(socket, AuthTimeout('Send {"type": "hello"} after the challenge.'))
            return None
        except DomogateError as exc:
            await self._refuse(socket, exc)
            return None
        name = linked.installation.name
        old = self.links.get(name)
        if old is not None:
            await old.socket.close(CLOSE_NORMAL, "replaced by a newer link")
            self._ended(old)
        link = ControlLink(name, socket, source)
        pool_key = secrets.token_bytes(cloudwire.POOL_KEY_BYTES)
        link.entry = self.registry.register(name, pool_key, lambda n: self._want(link, n))
        self.links[name] = link
        welcome = {
            "type": "welcome",
            "name": name,
            "url": self.config.url_of(name),
            "relay": _relay_address(scope, self.config),
            "pool_key": b64url_encode(pool_key),
            "pool_size": self.settings.pool_size,
        }
        if self.settings.acme_directory:
            welcome["acme_directory"] = self.settings.acme_directory
        try:
            await socket.send_text(json.dumps(welcome))
        except Disconnected:
            self._ended(link)
            raise
        log.info("control link up: %s from %s", name, source)
        return link

    async def _refuse(self, socket: RawSocket, exc: DomogateError) -> None:
        body: dict[str, Any] = {"type": "error", "code": exc.code, "message": exc.message}
        if isinstance(exc, RateLimited):
            body["retry_after"] = exc.retry_after
        with contextlib.suppress(Disconnected):
            await socket.send_text(json.dumps(body))
        await socket.close(exc.ws_close, exc.code)

    def _ended(self, link: ControlLink) -> None:
        if self.links.get(link.name) is link:
            del self.links[link.name]
            log.info("control link down: %s", link.name)
        if link.entry is not None:
            self.registry.unregister(link.entry)
            link.entry = None

    # --- cloud → server ------------------------------------------------------------------

    def _want(self, link: ControlLink, count: int) -> None:
        """The relay ran out of pool connections for ``link``: ask its server (wants of
        one loop iteration are sent as one message)."""
        if count <= 0 or link.entry is None:
            return
        first = link.wanted == 0
        link.wanted += count
        if first:
            self._spawn(self._send_want(link))

    async def _send_want(self, link: ControlLink) -> None:
        await asyncio.sleep(0)  # gather the wants of this round
        count, link.wanted = link.wanted, 0
        with contextlib.suppress(Disconnected):
            await link.socket.send_text(json.dumps({"type": "pool", "want": count}))

    def _published(self, info: VersionInfo) -> None:
        """A version was stored: tell its installation's live link at once."""
        link = self.links.get(info.installation)
        if link is not None:
            self._spawn(self.versions.announce(info, link.socket))

    async def released(self, name: str) -> bool:
        """The operator released ``name``: tell its server (``released``) and end its
        link. False when it was not linked."""
        link = self.links.get(name)
        if link is None:
            return False
        with contextlib.suppress(Disconnected):
            await link.socket.send_text(json.dumps({"type": "released"}))
        await link.socket.close(CLOSE_RELEASED, "released")
        self._ended(link)
        return True

    async def close_all(self) -> None:
        for link in list(self.links.values()):
            await link.socket.close(1001, "the cloud is stopping")
            self._ended(link)
        for task in list(self._tasks):
            task.cancel()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
