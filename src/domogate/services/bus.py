"""The port every bus adapter implements (``bus/simulated.py``, ``bus/knx.py``).

A bus speaks in group addresses (``"1/2/3"``), datapoint types (``"9.001"``) and JSON
values (see :mod:`domogate.core.values`); payload encoding stays inside the adapter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue


@dataclass(frozen=True)
class BusStatus:
    """How the bus is doing, as shown to admins."""

    adapter: str  # "simulated" or "knx"
    connected: bool
    detail: str = ""  # e.g. "tunnelling to 127.0.0.1:3671" or why it is down


class BusListener(Protocol):
    """What the bus reports to the services (called on the event loop; must not block)."""

    def on_value(self, address: str, value: JsonValue) -> None:
        """A GroupValueWrite or GroupValueResponse seen on ``address``, decoded with the
        datapoint type given for it by :meth:`Bus.configure`."""

    def on_status(self, status: BusStatus) -> None:
        """The connection went up or down (also called once at start)."""


class Bus(Protocol):
    @property
    def status(self) -> BusStatus: ...

    async def start(self, listener: BusListener) -> None:
        """Begin connecting (returns without waiting for the connection) and keep
        reconnecting on its own until :meth:`stop`."""

    async def configure(self, objects: Sequence[ProjectObject]) -> None:
        """The deployed project's objects: which addresses to decode (and as what), and
        which state addresses to read, now if connected and again after each reconnect.
        The simulated bus also builds its building from them."""

    async def write(self, address: str, dpt: str, value: JsonValue) -> None:
        """Send a GroupValueWrite. Returns once it is handed to the bus; raises
        :class:`~domogate.errors.BusUnavailable` at once when the bus is down and
        :class:`~domogate.errors.ValueInvalid` when the value does not fit ``dpt``."""

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""
