"""The home server's control link to its cloud (``docs/cloud.md``, "The home server's
link"): :class:`LinkClient` implements the services' :class:`~domogate.services.ports.
CloudLink` port.

One control link at a time, ``wss://<system.cloud.address>/api/link``:

- TLS: when ``system.cloud.fingerprint`` is set, a context that checks nothing plus an
  exact SHA-256 comparison of the peer's certificate as soon as the handshake is done,
  before a byte of HTTP is sent (a mismatch aborts the connection); otherwise the
  certificate must be CA-trusted for HOST;
- challenge → hello (signed with the server's Ed25519 key over
  ``cloudwire.link_message``; the password only when no claim record for this cloud is
  kept, or after ``cloud_claim_required``) → welcome, or an error and the link closed;
- after the welcome: the claim record is written, the pool connections
  (:class:`~domogate.cloud.poolclient.PoolClient`) opened; ``pool`` messages ask for more;
  ``released`` forgets the claim record and stops the link for good (until the project
  changes);
- published versions (``docs/cloud-publish.md``): ``version_available`` goes to the
  listener the services set, ``get_version`` / ``version`` and ``version_result`` through
  :class:`~domogate.cloud.versionchannel.VersionChannel`; the link accepts messages up
  to 1 MiB, and up to 96 MiB (a version's content, base64) only while a version it asked
  for is awaited;
- reconnection with capped exponential backoff (0.5 s doubling to 30 s) and full jitter,
  from 0.5 s again after each welcome; ``rate_limited`` waits at least ``retry_after``.

The cloud password is only ever written to the control link: never logged, never in a
state or error message.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import logging
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from domogate.cloud.poolclient import POOL_CAP, OnStream, PoolClient
from domogate.cloud.versionchannel import SMALL_MESSAGE, VersionChannel
from domogate.core import cloudwire
from domogate.core.backoff import backoff_delay
from domogate.services.ports import (
    CLOUD_CONNECTING,
    CLOUD_ERROR,
    CLOUD_LINKED,
    CLOUD_RELEASED,
    CloudLinkReport,
    CloudLinkState,
    CloudTarget,
    PublishedVersion,
    VersionListener,
    VersionResult,
)

log = logging.getLogger("domogate.cloud.link")
# websockets logs every frame at DEBUG, with the end of its text: the hello's password and
# the welcome's pool key. Its logger for the control link never logs below WARNING.
FRAMES_LOG = logging.getLogger("domogate.cloud.link.frames")
FRAMES_LOG.setLevel(logging.WARNING)

LINK_PATH = "/api/link"
OPEN_TIMEOUT_S = 10.0  # TCP + TLS + WebSocket handshake
REPLY_TIMEOUT_S = 15.0  # the challenge, then the welcome (the cloud hashes a password)
PING_INTERVAL_S = 20.0
PING_TIMEOUT_S = 40.0  # dead after 2 missed pings


class CloudFiles(Protocol):
    """What the link keeps in the server's data folder (``storage/datadir.py``)."""

    @property
    def server_id(self) -> str: ...
    def cloud_key(self) -> Ed25519PrivateKey: ...
    def cloud_claim(self) -> dict[str, str] | None: ...
    def save_cloud_claim(self, address: str, fingerprint: str, name: str) -> None: ...
    def forget_cloud_claim(self) -> None: ...


class LinkFailed(Exception):
    """The control link ended with a reason worth showing (``code``, ``message``)."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class _Released(Exception):
    pass


@dataclass(frozen=True)
class Welcome:
    name: str
    url: str
    relay: tuple[str, int]
    relay_text: str
    pool_key: bytes
    pool_size: int
    acme_directory: str | None = None


def _b64(text: Any, length: int, what: str) -> bytes:
    if not isinstance(text, str):
        raise LinkFailed("cloud_protocol", f"The cloud sent no {what}.")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError) as exc:
        raise LinkFailed("cloud_protocol", f"The cloud sent a malformed {what}.") from exc
    if len(raw) != length:
        raise LinkFailed("cloud_protocol", f"The cloud sent a malformed {what}.")
    return raw


def parse_welcome(message: dict[str, Any], name: str) -> Welcome:
    if message.get("name") != name:
        raise LinkFailed("cloud_protocol", "The cloud welcomed another installation name.")
    url, relay = message.get("url"), message.get("relay")
    size = message.get("pool_size")
    if not isinstance(url, str) or not cloudwire.is_installation_url(url, name):
        raise LinkFailed(
            "cloud_protocol", f"The cloud's welcome has no valid url (https://{name}.ZONE)."
        )
    if not isinstance(relay, str) or len(relay) > 300:
        raise LinkFailed("cloud_protocol", "The cloud's welcome has no valid relay.")
    try:
        relay_addr = cloudwire.split_address(relay)
    except ValueError as exc:
        raise LinkFailed("cloud_protocol", "The cloud's welcome has no valid relay.") from exc
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= POOL_CAP:
        raise LinkFailed("cloud_protocol", "The cloud's welcome has no valid pool_size.")
    key = _b64(message.get("pool_key"), cloudwire.POOL_KEY_BYTES, "pool key")
    acme = message.get("acme_directory")
    if acme is not None and (
        not isinstance(acme, str) or not acme.startswith("https://") or len(acme) > 500
    ):
        raise LinkFailed("cloud_protocol", "The cloud's welcome has no valid acme_directory.")
    return Welcome(name, url, relay_addr, relay, key, size, acme)


def tls_context(fingerprint: str | None) -> ssl.SSLContext:
    """Pinned: no chain or name check here (the exact fingerprint check follows the
    handshake); else the system's CA store and the host name."""
    if fingerprint:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    else:
        context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class LinkClient:
    """The control link (see the module's docstring). ``on_stream`` receives every
    attached pool connection; set it before :meth:`start` (the server sets it to its
    web server's ``accept_relayed``)."""

    def __init__(
        self,
        files: CloudFiles,
        on_stream: OnStream | None = None,
        *,
        on_start: Callable[[str, str], None] | None = None,
        on_linked: Callable[[str], None] | None = None,
        rng: random.Random | None = None,
        backoff_base_s: float = 0.5,
        backoff_cap_s: float = 30.0,
    ) -> None:
        self._files = files
        self.on_stream = on_stream
        self._on_start = on_start
        self._on_linked = on_linked
        self._rng = rng or random.SystemRandom()
        self._base = backoff_base_s
        self._cap = backoff_cap_s
        self._name = cloudwire.cloud_name(files.cloud_key().public_key())
        self._task: asyncio.Task[None] | None = None
        self._report: CloudLinkReport | None = None
        self.pools: PoolClient | None = None
        self.versions = VersionChannel()

    @property
    def name(self) -> str:
        return self._name

    def on_version_available(self, listener: VersionListener) -> None:
        self.versions.set_listener(listener)

    async def fetch_version(self, version: int) -> PublishedVersion:
        return await self.versions.fetch(version)

    def report_version(self, report: VersionResult) -> None:
        self.versions.report(report)

    def start(self, target: CloudTarget, report: CloudLinkReport) -> None:
        if self._task is not None and not self._task.done():
            raise RuntimeError("the cloud link is already running; stop it first")
        self._report = report
        if self._on_start is not None:
            self._on_start(self._name, target.address)
        self._task = asyncio.get_running_loop().create_task(self._run(target))

    async def stop(self) -> None:
        self._report = None  # nothing more is reported once stopped
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # --- the loop -------------------------------------------------------------------------

    def _tell(self, status: str, **fields: str | None) -> None:
        if self._report is not None:
            self._report(CloudLinkState(status, name=self._name, **fields))

    async def _run(self, target: CloudTarget) -> None:
        attempt = 0
        with_password = False
        while True:
            self._tell(CLOUD_CONNECTING)
            linked: list[bool] = []
            wait_at_least = 0.0
            try:
                await self._session(target, with_password, linked)
                log.info("cloud link to %s closed", target.address)
            except _Released:
                self._files.forget_cloud_claim()
                log.warning("the cloud at %s released this installation", target.address)
                self._tell(CLOUD_RELEASED)
                return
            except LinkFailed as exc:
                if exc.code == "cloud_claim_required" and not with_password:
                    with_password = True  # the cloud forgot us: claim again, at once
                    continue
                log.warning("cloud link to %s: %s (%s)", target.address, exc.message, exc.code)
                self._tell(CLOUD_ERROR, code=exc.code, message=exc.message)
                wait_at_least = exc.retry_after or 0.0
            except (OSError, TimeoutError, WebSocketException, ssl.SSLError) as exc:
                message = f"Cannot reach the cloud at {target.address}: {_describe(exc)}."
                log.warning("%s", message)
                self._tell(CLOUD_ERROR, code="cloud_unreachable", message=message)
            if linked:
                attempt = 0
                with_password = False
            delay = max(
                wait_at_least, backoff_delay(attempt, self._rng.random, self._base, self._cap)
            )
            attempt += 1
            await asyncio.sleep(delay)

    async def _session(self, target: CloudTarget, with_password: bool, linked: list[bool]) -> None:
        host, port = cloudwire.split_address(target.address)
        seen: dict[str, str] = {}
        pinned = target.fingerprint

        class PinnedConnection(ClientConnection):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                super().connection_made(transport)
                ssl_object = transport.get_extra_info("ssl_object")
                der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
                seen["fingerprint"] = hashlib.sha256(der or b"").hexdigest()
                if pinned and not hmac.compare_digest(seen["fingerprint"], pinned):
                    seen["mismatch"] = "1"
                    cast(asyncio.Transport, transport).abort()  # before any HTTP is sent

        uri_host = f"[{host}]" if ":" in host else host
        try:
            ws = await connect(
                f"wss://{uri_host}:{port}{LINK_PATH}",
                ssl=tls_context(pinned),
                server_hostname=host,
                create_connection=PinnedConnection,
                open_timeout=OPEN_TIMEOUT_S,
                ping_interval=PING_INTERVAL_S,
                ping_timeout=PING_TIMEOUT_S,
                max_size=SMALL_MESSAGE,  # raised only while a version is awaited
                proxy=None,
                compression=None,
                user_agent_header="domogate",
                logger=FRAMES_LOG,
            )
        except Exception:
            if seen.get("mismatch"):
                raise LinkFailed(
                    "cloud_fingerprint_mismatch",
                    f"The cloud at {target.address} presented a certificate with SHA-256 "
                    f"{seen['fingerprint']}, not system.cloud.fingerprint {pinned}; check "
                    "`domogate cloud info` on the cloud and the project.",
                ) from None
            raise
        async with ws:
            await self._exchange(ws, target, seen["fingerprint"], with_password, linked)

    async def _exchange(
        self,
        ws: ClientConnection,
        target: CloudTarget,
        fingerprint: str,
        with_password: bool,
        linked: list[bool],
    ) -> None:
        challenge = await _receive(ws)
        if challenge.get("type") != "challenge":
            raise LinkFailed("cloud_protocol", "The cloud did not send a challenge.")
        nonce = _b64(challenge.get("nonce"), cloudwire.NONCE_BYTES, "nonce")
        key = self._files.cloud_key()
        claim = self._files.cloud_claim()
        claimed = (
            claim is not None
            and claim["address"] == target.address
            and claim["name"] == self._name
            and (not target.fingerprint or claim["fingerprint"] == fingerprint)
        )
        hello = {
            "type": "hello",
            "name": self._name,
            "public_key": cloudwire.public_key_text(key.public_key()),
            "signature": cloudwire.sign_link(key, nonce, fingerprint, self._name),
            "password": target.password if with_password or not claimed else None,
        }
        await ws.send(json.dumps(hello))
        reply = await _receive(ws)
        if reply.get("type") == "error":
            code, message = reply.get("code"), reply.get("message")
            retry = reply.get("retry_after")
            raise LinkFailed(
                code if isinstance(code, str) and len(code) < 64 else "cloud_refused",
                message[:300] if isinstance(message, str) else "The cloud refused the link.",
                float(retry) if isinstance(retry, int | float) and 0 < retry < 3600 else None,
            )
        if reply.get("type") != "welcome":
            raise LinkFailed("cloud_protocol", "The cloud answered the hello with no welcome.")
        welcome = parse_welcome(reply, self._name)
        self._files.save_cloud_claim(target.address, fingerprint, self._name)
        linked.append(True)
        on_stream = self.on_stream or _refuse_stream
        pools = PoolClient(
            welcome.relay, self._name, welcome.pool_key, on_stream, size=welcome.pool_size
        )
        self.pools = pools
        pools.start()
        log.info("cloud link up: %s (relay %s)", welcome.url, welcome.relay_text)
        self._tell(
            CLOUD_LINKED,
            url=welcome.url,
            relay=welcome.relay_text,
            acme_directory=welcome.acme_directory,
        )
        if self._on_linked is not None:
            self._on_linked(welcome.url)
        self.versions.attach(ws)
        try:
            async for raw in ws:
                message = _parse(raw)
                kind = message.get("type")
                if self.versions.handle(message):
                    continue
                if kind == "pool":
                    want = message.get("want")
                    if isinstance(want, int) and not isinstance(want, bool) and want > 0:
                        pools.want(want)
                elif kind == "released":
                    raise _Released()
        finally:
            self.versions.detach()
            self.pools = None
            await pools.close()


def _refuse_stream(sock: Any, host: str, port: int) -> None:
    sock.close()


def _parse(raw: str | bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise LinkFailed("cloud_protocol", "The cloud sent a message that is not JSON.") from exc
    if not isinstance(message, dict):
        raise LinkFailed("cloud_protocol", "The cloud sent a message that is not an object.")
    return message


async def _receive(ws: ClientConnection) -> dict[str, Any]:
    try:
        async with asyncio.timeout(REPLY_TIMEOUT_S):
            raw = await ws.recv()
    except TimeoutError as exc:
        raise LinkFailed("cloud_timeout", "The cloud did not answer in time.") from exc
    return _parse(raw)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__
