"""Domain events and the hub that fans them out to adapters (WebSocket, audit, …)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from domogate.services.ports import BusStatus, CloudCertificate, CloudLinkState

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientsChanged:
    """The admin's client list changed (slot added, connect, revoke, expiry, …)."""


@dataclass(frozen=True)
class ProjectChanged:
    version: int


@dataclass(frozen=True)
class DevicesRevoked:
    device_ids: frozenset[str]
    code: str = "revoked"
    message: str = "Access for this device has been revoked by an administrator."


@dataclass(frozen=True)
class ObjectStateChanged:
    """An object's state changed; ``visible_to`` is the groups that may see it (None: all)."""

    object_id: str
    state: dict[str, Any]
    visible_to: frozenset[str] | None


@dataclass(frozen=True)
class BusStatusChanged:
    status: BusStatus


@dataclass(frozen=True)
class CloudLinkChanged:
    state: CloudLinkState


@dataclass(frozen=True)
class CloudCertificateChanged:
    """The cloud name's ACME certificate changed state (``services.cloud.certificate``)."""

    certificate: CloudCertificate


@dataclass(frozen=True)
class UpdateRefusal:
    """A published version the server refused (``code``: the error's)."""

    version: int
    code: str
    message: str


@dataclass(frozen=True)
class UpdateStatus:
    """What admins see of published versions (``services/updates.py``)."""

    available: int | None = None  # waiting to be applied from the maintenance page
    published_at: str | None = None  # the available version's, as the cloud told it
    refused: UpdateRefusal | None = None  # the last refusal, until a version is applied


@dataclass(frozen=True)
class UpdateChanged:
    status: UpdateStatus


Event = (
    ClientsChanged
    | ProjectChanged
    | DevicesRevoked
    | ObjectStateChanged
    | BusStatusChanged
    | CloudLinkChanged
    | CloudCertificateChanged
    | UpdateChanged
)
Listener = Callable[[Event], None]


class EventHub:
    """Synchronous fan-out; listeners must not block (they enqueue work)."""

    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)

        def unsubscribe() -> None:
            if listener in self._listeners:
                self._listeners.remove(listener)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:  # a broken listener must not break the use case
                log.exception("event listener failed for %s", type(event).__name__)
