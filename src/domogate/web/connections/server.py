"""uvicorn's server with domogate's accept loop (see :mod:`domogate.web.connections`)."""

from __future__ import annotations

import asyncio
import socket
import ssl
import sys
from collections.abc import Callable
from typing import cast

import uvicorn
from uvicorn.config import STARTUP_FAILURE, Config

from domogate.settings import ConnectionLimits
from domogate.web.connections.acceptor import Acceptor, RelayedTls
from domogate.web.connections.gate import ConnectionGate, Slot
from domogate.web.connections.limits import (
    EffectiveLimits,
    effective_limits,
    raise_open_files,
    wanted_open_files,
)
from domogate.web.connections.protocols import GuardedH11Protocol

AcceptorFactory = Callable[
    [socket.socket, ConnectionGate, Callable[[Slot], asyncio.Protocol], ssl.SSLContext | None, int],
    Acceptor,
]
"""Builds the accept loop of one listening socket: ``(sock, gate, protocol_factory,
ssl_context, backlog)``; :class:`Acceptor` itself, or a subclass (the cloud's relay)."""


class GuardedServer(uvicorn.Server):
    """uvicorn's server with domogate's accept loop (see the module's docstring). It
    serves the sockets it is given (``serve(sockets=[…])``); ``acceptor_factory`` builds
    the accept loop of each one (the cloud passes its relay's)."""

    def __init__(
        self,
        config: Config,
        limits: ConnectionLimits | EffectiveLimits,
        acceptor_factory: AcceptorFactory = Acceptor,
    ) -> None:
        super().__init__(config)
        self.acceptor_factory = acceptor_factory
        self.limits = (
            limits
            if isinstance(limits, EffectiveLimits)
            else effective_limits(limits, raise_open_files(wanted_open_files(limits)))
        )
        self.gate = ConnectionGate(self.limits)
        self.acceptors: list[Acceptor] = []
        # How relayed connections choose their certificate (the ACME keeper's ``choose``);
        # given to the accept loops at startup. None: the server's own, always.
        self.relayed_tls: RelayedTls | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        if not sockets:
            raise ValueError("GuardedServer serves bound sockets: serve(sockets=[…]).")
        await self.lifespan.startup()
        if self.lifespan.should_exit:
            sys.exit(STARTUP_FAILURE)
        config = self.config
        loop = asyncio.get_running_loop()

        def protocol(slot: Slot) -> asyncio.Protocol:
            return GuardedH11Protocol(
                config=config,
                server_state=self.server_state,
                app_state=self.lifespan.state,
                _loop=loop,
                slot=slot,
            )

        acceptors = [
            self.acceptor_factory(sock, self.gate, protocol, config.ssl, config.backlog)
            for sock in sockets
        ]
        for acceptor in acceptors:
            acceptor.relayed_tls = self.relayed_tls
            acceptor.start()
        self.acceptors = acceptors
        self.servers = cast(list[asyncio.base_events.Server], acceptors)
        self.started = True

    def accept_relayed(self, sock: socket.socket, host: str, port: int) -> None:
        """A socket from the cloud's relay, for ``client_host``/``client_port``
        (:meth:`Acceptor.accept_relayed`); closed when the server is not serving."""
        if not self.acceptors:
            sock.close()
            return
        self.acceptors[0].accept_relayed(sock, host, port)
