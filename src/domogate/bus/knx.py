"""The real KNX bus through xknx: UDP or TCP tunnelling, routing, KNX IP Secure.

:class:`KnxBus` keeps one background task that connects, watches the connection and
reconnects after any loss, forever, until :meth:`KnxBus.stop`. Each connection is a fresh
``XKNX`` instance (with xknx's own auto-reconnect off), so a lost tunnel is torn down
completely and nothing of it survives into the next one. Between attempts it waits a
bounded back-off (0.25 s doubling up to ``reconnect_interval_s``).

A tunnel's loss is noticed by xknx (a disconnect from the gateway, failed
acknowledgements) or, when the gateway just vanishes, by a liveness probe: a
ConnectionStateRequest on the tunnel every ``liveness_interval_s`` (the KNX heartbeat
itself runs only every 70 s).

On every connection, and on every :meth:`KnxBus.configure` while connected, the state
addresses are read (GroupValueRead); answers and writes seen on configured addresses are
decoded with the datapoint type of the deployed project and reported to the listener.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from xknx import XKNX
from xknx.core.connection_state import XknxConnectionState
from xknx.exceptions import CouldNotParseAddress, RequestResponseError, XKNXException
from xknx.io import ConnectionConfig, ConnectionType, SecureConfig
from xknx.io.request_response.connectionstate import ConnectionState
from xknx.io.tunnel import TCPTunnel, UDPTunnel
from xknx.telegram import GroupAddress, IndividualAddress, Telegram
from xknx.telegram.apci import GroupValueRead, GroupValueResponse, GroupValueWrite

from domogate.core.objects import AddressIndex
from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue, decode, encode
from domogate.errors import BusUnavailable, InvalidInput, ValueInvalid
from domogate.services.bus import BusListener, BusStatus
from domogate.settings import KnxSettings

log = logging.getLogger(__name__)

ADAPTER = "knx"
RATE_LIMIT = 40  # telegrams per second towards the bus, at most (a TP line carries ~50)
MAX_WAITING = 2 * RATE_LIMIT  # telegrams queued for the bus: about 2 s; more is refused
READS_PER_S = 10.0  # state reads are paced so that commands never queue behind them
FIRST_RETRY_S = 0.25
PROBE_TIMEOUT_S = 1.0
STOP_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_S = 2.0  # on stop, how long queued telegrams may take to go out

_CONNECTIONS = {
    "tunneling": ConnectionType.TUNNELING,
    "tunneling_tcp": ConnectionType.TUNNELING_TCP,
    "tunneling_tcp_secure": ConnectionType.TUNNELING_TCP_SECURE,
    "routing": ConnectionType.ROUTING,
    "routing_secure": ConnectionType.ROUTING_SECURE,
    "automatic": ConnectionType.AUTOMATIC,
}
_SECURE = {
    ConnectionType.TUNNELING_TCP: ConnectionType.TUNNELING_TCP_SECURE,
    ConnectionType.ROUTING: ConnectionType.ROUTING_SECURE,
}
_NEEDS_GATEWAY = {
    ConnectionType.TUNNELING,
    ConnectionType.TUNNELING_TCP,
    ConnectionType.TUNNELING_TCP_SECURE,
}


@dataclass(frozen=True)
class Connection:
    """What :func:`connection_config` made of the settings."""

    config: ConnectionConfig
    describe: str  # "tunnelling to 127.0.0.1:3671"


def connection_type(name: str) -> ConnectionType:
    key = name.strip().lower().replace("-", "_").replace("tunnelling", "tunneling")
    try:
        return _CONNECTIONS[key]
    except KeyError:
        raise InvalidInput(
            f"Unknown KNX connection type {name!r}; use one of: " + ", ".join(sorted(_CONNECTIONS)),
            key="knx.connection",
        ) from None


def connection_config(settings: KnxSettings) -> Connection:
    """Check the KNX settings and turn them into xknx's connection configuration.

    Raises :class:`InvalidInput` naming the setting to fix."""
    kind = connection_type(settings.connection)
    secure: SecureConfig | None = None
    if settings.keyring is not None:
        kind = _SECURE.get(kind, kind)
        if kind is ConnectionType.TUNNELING:
            raise InvalidInput(
                "KNX IP Secure works over TCP tunnelling or routing, not UDP tunnelling: "
                "set the connection to tunneling_tcp or routing (or drop the keyring).",
                key="knx.connection",
            )
        keyring = Path(settings.keyring)
        if not keyring.is_file():
            raise InvalidInput(
                f"The KNX keyring file {keyring} does not exist; export it from ETS "
                "(Project → Security → Export keyring) and give its path.",
                key="knx.keyring",
            )
        if not settings.keyring_password:
            raise InvalidInput(
                "The KNX keyring needs its password (the one chosen when exporting it).",
                key="knx.keyring_password",
            )
        secure = SecureConfig(knxkeys_file_path=keyring, knxkeys_password=settings.keyring_password)
    elif kind in (ConnectionType.TUNNELING_TCP_SECURE, ConnectionType.ROUTING_SECURE):
        raise InvalidInput(
            f"The KNX connection {settings.connection!r} is KNX IP Secure: give the ETS "
            "keyring file and its password.",
            key="knx.keyring",
        )
    if kind in _NEEDS_GATEWAY and not settings.gateway_host:
        raise InvalidInput(
            f"The KNX connection {settings.connection!r} needs the gateway's host name or IP "
            "address (gateway_host).",
            key="knx.gateway_host",
        )
    if not 0 < settings.gateway_port < 65536:
        raise InvalidInput(
            f"The KNX gateway port must be 1-65535, not {settings.gateway_port}.",
            key="knx.gateway_port",
        )
    if settings.reconnect_interval_s <= 0 or settings.connect_timeout_s <= 0:
        raise InvalidInput(
            "The KNX reconnect interval and connect timeout must be positive.",
            key="knx.reconnect_interval_s",
        )
    individual: IndividualAddress | None = None
    if settings.individual_address:
        try:
            individual = IndividualAddress(settings.individual_address)
        except CouldNotParseAddress:
            raise InvalidInput(
                f"{settings.individual_address!r} is not a KNX individual address "
                "(area.line.device, e.g. 1.1.250).",
                key="knx.individual_address",
            ) from None
    config = ConnectionConfig(
        connection_type=kind,
        individual_address=individual,
        local_ip=settings.local_ip,
        gateway_ip=settings.gateway_host,
        gateway_port=settings.gateway_port,
        multicast_group=settings.multicast_group,
        auto_reconnect=False,  # KnxBus reconnects itself, with a fresh XKNX each time
        secure_config=secure,
    )
    return Connection(config, _describe(kind, settings))


def _describe(kind: ConnectionType, settings: KnxSettings) -> str:
    gateway = f"{settings.gateway_host}:{settings.gateway_port}"
    return {
        ConnectionType.TUNNELING: f"tunnelling to {gateway}",
        ConnectionType.TUNNELING_TCP: f"tunnelling over TCP to {gateway}",
        ConnectionType.TUNNELING_TCP_SECURE: f"secure tunnelling over TCP to {gateway}",
        ConnectionType.ROUTING: f"routing on {settings.multicast_group}",
        ConnectionType.ROUTING_SECURE: f"secure routing on {settings.multicast_group}",
        ConnectionType.AUTOMATIC: "a gateway found automatically",
    }[kind]


def _error_text(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "no answer in time"
    text = str(exc).strip()
    cause = exc.__cause__
    if cause is not None and str(cause).strip():
        text = f"{text} ({str(cause).strip()})" if text else str(cause).strip()
    return text or type(exc).__name__


def _drop_pending(xknx: XKNX) -> int:
    """Forget the telegrams still queued in xknx (the connection is going away; sending
    them would only delay the teardown, one failed acknowledgement after another)."""
    dropped = 0
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            xknx.telegrams.get_nowait()
            xknx.telegrams.task_done()
            dropped += 1
    # xknx moves outgoing telegrams to its rate limiter's queue; each there is still
    # unfinished in both queues
    outgoing = xknx.telegram_queue.outgoing_queue
    with contextlib.suppress(asyncio.QueueEmpty):
        while True:
            outgoing.get_nowait()
            outgoing.task_done()
            xknx.telegrams.task_done()
            dropped += 1
    return dropped


class KnxBus:
    """The :class:`~domogate.services.bus.Bus` of a real KNX installation."""

    def __init__(self, settings: KnxSettings, *, liveness_interval_s: float = 2.0) -> None:
        self._settings = settings
        self._connection = connection_config(settings)
        self._liveness_interval_s = liveness_interval_s
        self._listener: BusListener | None = None
        self._status = BusStatus(ADAPTER, False, "not started")
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._reader: asyncio.Task[None] | None = None
        self._xknx: XKNX | None = None
        self._connected = False
        self._generation = 0
        self._lost: asyncio.Event | None = None
        self._lost_reason = ""
        self._listened: dict[int, tuple[str, str]] = {}  # raw group address → (address, dpt)
        self._reads: list[GroupAddress] = []
        self._addresses: dict[str, GroupAddress] = {}
        self.connections = 0  # successful connections so far (for tests and status pages)

    # --- Bus ------------------------------------------------------------------------------

    @property
    def status(self) -> BusStatus:
        return self._status

    async def start(self, listener: BusListener) -> None:
        if self._task is not None:
            raise RuntimeError("the KNX bus is already started")
        self._listener = listener
        self._stopping = False
        self._set_status(False, f"connecting ({self._connection.describe})")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="knx-bus")

    async def configure(self, objects: Sequence[ProjectObject]) -> None:
        index = AddressIndex.of(objects)
        listened: dict[int, tuple[str, str]] = {}
        for address, dpt in index.listened().items():
            listened[self._group_address(address).raw] = (address, dpt)
        self._listened = listened
        self._reads = [self._group_address(a) for a in index.read_addresses()]
        if self._connected and self._xknx is not None:
            self._start_reads(self._xknx)

    async def write(self, address: str, dpt: str, value: JsonValue) -> None:
        xknx = self._xknx
        if not self._connected or xknx is None:
            raise BusUnavailable(
                f"The KNX bus is not connected ({self._status.detail}); try again when it is back."
            )
        payload = encode(dpt, value)  # ValueInvalid when the value does not fit
        waiting = xknx.telegrams.qsize() + xknx.telegram_queue.outgoing_queue.qsize()
        if waiting >= MAX_WAITING:
            # Never let commands wait behind seconds of others: the person tries again.
            raise BusUnavailable(
                f"The KNX bus is busy ({waiting} telegrams waiting); try again in a moment.",
                waiting=waiting,
            )
        xknx.telegrams.put_nowait(
            Telegram(
                destination_address=self._group_address(address),
                payload=GroupValueWrite(payload),
            )
        )

    async def stop(self) -> None:
        self._stopping = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # it tears the connection down (a disconnect request) before it ends
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_S + 1)
            while not task.done():  # should not happen: cancel again until it ends
                log.warning("the KNX connection task is slow to stop")
                task.cancel()
                await asyncio.wait({task}, timeout=1.0)
        if task is not None and not task.cancelled() and task.exception() is not None:
            log.error("the KNX connection task failed", exc_info=task.exception())
        self._set_status(False, "stopped")

    # --- the connection -------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, watch, tear down, wait, again: until cancelled by :meth:`stop`."""
        failures = 0
        while not self._stopping:
            xknx: XKNX | None = None
            try:
                xknx = await self._connect()
                failures = 0
                reason = await self._watch(xknx)
                self._connected = False
                self._set_status(False, f"connection lost ({self._connection.describe}): {reason}")
                log.warning("KNX connection lost: %s", reason)
            except asyncio.CancelledError:  # stop(): send what is queued, briefly
                flush = self._connected
                self._connected = False
                await self._teardown(xknx or self._xknx, flush=flush)
                raise
            except Exception as exc:  # any failure: report it and try again
                self._connected = False
                failures += 1
                text = _error_text(exc)
                self._set_status(False, f"cannot connect ({self._connection.describe}): {text}")
                log.info("KNX connection failed (attempt %d): %s", failures, text)
                if not isinstance(exc, XKNXException | OSError | TimeoutError):
                    log.debug("KNX connection failure", exc_info=exc)
            await self._teardown(xknx or self._xknx)
            if self._stopping:
                break
            delay = min(self._settings.reconnect_interval_s, FIRST_RETRY_S * 2**failures)
            await asyncio.sleep(delay)
        await self._teardown(self._xknx)

    async def _connect(self) -> XKNX:
        self._generation += 1
        generation = self._generation
        self._lost = asyncio.Event()
        self._lost_reason = ""

        def on_state(state: XknxConnectionState) -> None:
            if generation != self._generation or not self._connected:
                return
            if state is not XknxConnectionState.CONNECTED:
                self._connection_lost(
                    f"the tunnel went {state.value.lower()} "
                    "(closed by the gateway, or frames not acknowledged)"
                )

        def on_telegram(telegram: Telegram) -> None:
            if generation == self._generation:
                self._on_telegram(telegram)

        xknx = XKNX(
            connection_config=self._connection.config,
            connection_state_changed_cb=on_state,
            telegram_received_cb=on_telegram,
            rate_limit=RATE_LIMIT,
            multicast_group=self._settings.multicast_group,
        )
        self._xknx = xknx
        async with asyncio.timeout(self._settings.connect_timeout_s):
            await xknx.start()
        self._connected = True
        self.connections += 1
        detail = self._connection.describe
        if self._connection.config.connection_type is not ConnectionType.ROUTING:
            detail += f" as {xknx.current_address}"
        self._set_status(True, detail)
        log.info("KNX bus connected: %s", detail)
        self._start_reads(xknx)
        return xknx

    def _connection_lost(self, reason: str) -> None:
        self._connected = False  # writes fail from now on, before the watcher wakes
        if self._lost is not None and not self._lost.is_set():
            self._lost_reason = reason
            self._lost.set()

    async def _watch(self, xknx: XKNX) -> str:
        """Wait until the connection is lost; return why."""
        assert self._lost is not None
        while True:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._liveness_interval_s):
                    await self._lost.wait()
                return self._lost_reason
            problem = await self._probe(xknx)
            if problem is not None:
                problem = await self._probe(xknx)  # one more chance: UDP may lose a frame
            if problem is not None:
                self._connection_lost(problem)

    async def _probe(self, xknx: XKNX) -> str | None:
        """Ask the tunnelling server whether our channel is still alive (a
        ConnectionStateRequest, as the KNX heartbeat does). Routing has no connection."""
        # xknx keeps the tunnel in KNXIPInterface._interface; there is no public accessor.
        tunnel = getattr(xknx.knxip_interface, "_interface", None)
        if not isinstance(tunnel, UDPTunnel | TCPTunnel):
            return None
        channel = tunnel.communication_channel
        if channel is None:
            return "the tunnel has no channel"
        request = ConnectionState(
            transport=tunnel.transport,
            communication_channel_id=channel,
            local_hpai=tunnel.local_hpai,
        )
        request.timeout_in_seconds = PROBE_TIMEOUT_S
        try:
            await request.request()
        except RequestResponseError as exc:
            return f"the gateway does not answer ({exc})"
        except XKNXException as exc:
            return str(exc) or type(exc).__name__
        return None

    async def _teardown(self, xknx: XKNX | None, *, flush: bool = False) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
        if xknx is None:
            return
        if flush:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(FLUSH_TIMEOUT_S):
                    await xknx.join()
        dropped = _drop_pending(xknx)
        if dropped:
            log.info("%d telegram(s) not sent: the KNX connection is going down", dropped)
        if self._xknx is xknx:
            self._xknx = None
        self._generation += 1  # late callbacks of this instance are ignored
        try:
            async with asyncio.timeout(STOP_TIMEOUT_S):
                await xknx.stop()
        except Exception as exc:
            log.debug("stopping the KNX connection: %s", _error_text(exc))

    # --- telegrams ------------------------------------------------------------------------

    def _group_address(self, address: str) -> GroupAddress:
        known = self._addresses.get(address)
        if known is None:
            try:
                known = GroupAddress(address)
            except CouldNotParseAddress:
                raise ValueInvalid(f"{address!r} is not a KNX group address") from None
            self._addresses[address] = known
        return known

    def _start_reads(self, xknx: XKNX) -> None:
        """Read every state address, paced (a new start replaces a running one)."""
        if self._reader is not None:
            self._reader.cancel()
        self._reader = asyncio.get_running_loop().create_task(
            self._read_all(xknx, list(self._reads)), name="knx-bus-reads"
        )

    async def _read_all(self, xknx: XKNX, addresses: list[GroupAddress]) -> None:
        for i, address in enumerate(addresses):
            if i:
                await asyncio.sleep(1 / READS_PER_S)
            if xknx is not self._xknx or not self._connected:
                return
            xknx.telegrams.put_nowait(
                Telegram(destination_address=address, payload=GroupValueRead())
            )

    def _on_telegram(self, telegram: Telegram) -> None:
        payload = telegram.payload
        if not isinstance(payload, GroupValueWrite | GroupValueResponse):
            return
        destination = telegram.destination_address
        if not isinstance(destination, GroupAddress):
            return
        known = self._listened.get(destination.raw)
        if known is None:
            return
        address, dpt = known
        try:
            value = decode(dpt, payload.value)
        except ValueInvalid:
            log.debug("dropped a telegram on %s: %s does not decode as %s", address, payload, dpt)
            return
        if self._listener is not None:
            self._listener.on_value(address, value)

    def _set_status(self, connected: bool, detail: str) -> None:
        status = BusStatus(ADAPTER, connected, detail)
        if status == self._status:
            return
        self._status = status
        if self._listener is not None:
            self._listener.on_status(status)
