"""Connection-level guards in front of uvicorn (DESIGN §5, "Floods cost the attacker").

uvicorn's own server hands a connection to its protocol only after the TLS handshake
(asyncio gives that handshake 60 s), keeps a connection that never completes a request
head open for as long as the peer likes, and accepts connections until the process runs
out of open files. :class:`GuardedServer` runs its own accept loop on the listening
socket instead:

- a connection is counted from ``accept``, in total and per source address (IPv6 by
  /64, :func:`domogate.core.throttle.source_key`), *before* any TLS work;
- it must finish its TLS handshake and its first request head within
  ``head_timeout_s``; a later request head on a keep-alive connection must finish within
  the same time once its first byte arrived; otherwise the socket is closed;
- over a cap, a connection that has not sent a request head is closed to make room: at
  the per-address cap, the address's oldest one if it is older than
  ``evict_idle_after_s``; at the total cap, the oldest one of the address holding most
  of them, at once if that address holds more connections than the newcomer's (else
  only when older than ``evict_idle_after_s``); when there is none, the newcomer is
  refused: while fewer than ``refusals`` refusals are under way it is
  answered ``503`` with ``{"error": {"code": "too_many_connections", …}}`` and
  ``Retry-After`` (after its TLS handshake and request head), otherwise its socket is
  closed at once, before TLS;
- the caps are lowered to what the process's open-file limit allows (the soft limit is
  raised towards the hard one first), so that a flood never takes the server's own
  files (database, certificate, static files) away.

A connection is counted per socket, and released exactly once, whatever protocol holds
it at the end (after a WebSocket upgrade uvicorn moves the transport to the WebSocket
protocol and never tells the HTTP protocol that the connection is gone).

This relies on uvicorn internals (``Server.startup``, ``H11Protocol``,
``WebSocketsSansIOProtocol``); ``pyproject.toml`` pins the uvicorn versions it was
checked against.

The parts: ``limits`` (the caps and the open-file budget), ``gate`` (slots and the
counting gate), ``protocols`` (the guarded HTTP/1.1 and WebSocket protocols), ``refusal``
(the 503 answer), ``acceptor`` (the accept loop), ``server`` (:class:`GuardedServer`).
"""

from __future__ import annotations

from domogate.web.connections.acceptor import (
    ACCEPT_PAUSE_S,
    SSL_SHUTDOWN_TIMEOUT_S,
    Acceptor,
)
from domogate.web.connections.gate import MIN_BODY_RATE, ConnectionGate, Slot
from domogate.web.connections.limits import (
    EffectiveLimits,
    describe,
    effective_limits,
    fd_reserve,
    raise_open_files,
    wanted_open_files,
)
from domogate.web.connections.protocols import GuardedH11Protocol, GuardedWebSocketProtocol
from domogate.web.connections.refusal import (
    REFUSAL_HEAD_MAX,
    REFUSAL_LINGER_S,
    REFUSAL_TIMEOUT_S,
    RETRY_AFTER_S,
    RefusalProtocol,
    refusal_response,
)
from domogate.web.connections.server import GuardedServer

__all__ = [
    "ACCEPT_PAUSE_S",
    "MIN_BODY_RATE",
    "REFUSAL_HEAD_MAX",
    "REFUSAL_LINGER_S",
    "REFUSAL_TIMEOUT_S",
    "RETRY_AFTER_S",
    "SSL_SHUTDOWN_TIMEOUT_S",
    "Acceptor",
    "ConnectionGate",
    "EffectiveLimits",
    "GuardedH11Protocol",
    "GuardedServer",
    "GuardedWebSocketProtocol",
    "RefusalProtocol",
    "Slot",
    "describe",
    "effective_limits",
    "fd_reserve",
    "raise_open_files",
    "refusal_response",
    "wanted_open_files",
]
