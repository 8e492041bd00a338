"""This machine's LAN addresses, found without sending a packet (the choice among them is
pure: ``core/lanaddress.py``).

A UDP socket ``connect()``-ed to an address that is never routed on the Internet makes the
kernel pick the source address it would use (the default route's interface) and
``getsockname()`` tells it; no datagram leaves, as UDP ``connect`` only records the peer.
No name is resolved (a DNS query would be traffic).
"""

from __future__ import annotations

import socket
from collections.abc import Callable

# Never answered: 10.255.255.255 is the broadcast address of 10/8, fd00::1 a unique-local
# address; only the routing table is consulted.
PROBES: tuple[tuple[socket.AddressFamily, str], ...] = (
    (socket.AF_INET, "10.255.255.255"),
    (socket.AF_INET6, "fd00::1"),
)

Probe = Callable[[], list[str]]
"""The type of :func:`lan_candidates`: injectable for tests."""


def _route_source(family: socket.AddressFamily, target: str) -> str | None:
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as sock:
            sock.connect((target, 9))  # the discard port; connect() sends nothing for UDP
            return str(sock.getsockname()[0])
    except OSError:  # no route (no network, or no IPv6), or no such family here
        return None


def lan_candidates() -> list[str]:
    """Addresses of this machine that its network may reach, IPv4 first
    (``core.lanaddress.best_lan_address`` picks one)."""
    found: list[str] = []
    for family, target in PROBES:
        address = _route_source(family, target)
        if address and address not in found:
            found.append(address)
    return found
