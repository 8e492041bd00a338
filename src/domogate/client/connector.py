"""Open a server on the path the policy says: happy eyeballs between local and cloud.

:func:`open_first` dials the plan's first path at once and, when it has not answered within
the plan's delay (250 ms) or has already failed, the second; the first pinned TLS
handshake that completes wins and the other attempt is cancelled; then ``GET /api/info``
on the winner (the right server id), falling back to the other path if it fails.
The answer is returned with the route so that the caller can refresh the recorded paths
and policy (:meth:`~domogate.client.config.ClientConfig.with_server_info`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from dataclasses import dataclass

from domogate.client.api import JSON, ServerApi
from domogate.client.config import ClientConfig
from domogate.client.pinning import (
    MISMATCH_ADVICE,
    is_verification_failure,
    pinned_ssl_context,
)
from domogate.client.routes import Route, route_of
from domogate.core.paths import LOCAL, Plan, allowed_paths, plan, policy_of
from domogate.errors import CertificateMismatch, ClientError, DomogateError, ServerUnreachable


@dataclass
class Opened:
    """A server that answered on ``route``: its API client (no token yet) and its info."""

    api: ServerApi
    route: Route
    info: JSON


def api_on(route: Route, config: ClientConfig, *, timeout: float = 10) -> ServerApi:
    """A pinned API client on ``route`` (through the relay for the cloud path)."""
    if route.path == LOCAL:
        return ServerApi(route.url, cert_pem=config.server_cert_pem, timeout=timeout)
    return ServerApi(
        route.url,
        cert_pem=config.server_cert_pem,
        timeout=timeout,
        dial=(route.dial_host, route.dial_port),
        server_hostname=route.server_hostname,
    )


def default_plan(config: ClientConfig, forced: str | None = None) -> Plan:
    """The plan of the recorded policy (or the ``forced`` path), automatic connection
    taken as granted (a program asked to connect)."""
    server = config.server
    return plan(
        policy_of(server.connection_policy),
        forced=forced,
        automatic=True,
        cloud_known=server.cloud_known,
    )


async def probe(route: Route, config: ClientConfig, *, request_timeout: float = 10) -> Opened:
    """``GET /api/info`` on ``route``: the server must be the enrolled one."""
    api = api_on(route, config, timeout=request_timeout)
    try:
        info = await api.info()
        server_id = info.get("server_id")
        if server_id != config.server.server_id:
            shown = str(server_id)[:100] if server_id is not None else "no server id"
            raise ClientError(
                f"The server at {route.url} ({route.path} path) answered as {shown}, not as "
                f"the server {config.server.server_id} this client knows; not connecting.",
                expected=config.server.server_id,
                path=route.path,
            )
        return Opened(api, route, info)
    except BaseException:
        await api.aclose()
        raise


async def reach(route: Route, config: ClientConfig, *, request_timeout: float = 10) -> Route:
    """TCP, then the pinned TLS handshake on ``route`` (SNI = the route's server name), then
    close: the path answers. Plain asyncio streams, so that a cancelled attempt closes its
    socket at once (the loser of happy eyeballs)."""
    ctx = None
    if route.url.startswith("https://"):
        if config.server_cert_pem is None:
            raise ClientError(f"No pinned certificate for {route.url}; connect again.")
        ctx = pinned_ssl_context(config.server_cert_pem)
    try:
        async with asyncio.timeout(request_timeout):
            _, writer = await asyncio.open_connection(
                route.dial_host,
                route.dial_port,
                ssl=ctx,
                server_hostname=route.server_hostname if ctx is not None else None,
            )
    except (OSError, TimeoutError, ssl.SSLError) as exc:
        if is_verification_failure(exc):
            raise CertificateMismatch(
                f"The server at {route.url} ({route.path} path) presented a certificate that "
                f"does not match the pinned one; refusing to connect. {MISMATCH_ADVICE}",
                url=route.url,
                path=route.path,
            ) from exc
        timed_out = isinstance(exc, TimeoutError)
        reason = "no answer in time" if timed_out else str(exc) or type(exc).__name__
        raise ServerUnreachable(
            f"Cannot reach the server at {route.url} on the {route.path} path: {reason}.",
            url=route.url,
            path=route.path,
        ) from exc
    writer.close()
    with contextlib.suppress(OSError, ssl.SSLError):
        await writer.wait_closed()
    return route


async def open_first(
    config: ClientConfig, the_plan: Plan, *, request_timeout: float = 10
) -> Opened:
    """The first path of ``the_plan`` to answer (happy eyeballs when it has two), opened."""
    routes = [route_of(config.server, p) for p in the_plan.paths]
    if len(routes) == 1:
        return await probe(routes[0], config, request_timeout=request_timeout)
    errors: list[tuple[Route, BaseException]] = []
    winner = await _race(routes, config, the_plan.delay_s, request_timeout, errors)
    tried = {winner.path} if winner is not None else set()
    candidates = ([winner] if winner is not None else []) + [
        r for r in routes if r.path not in tried and all(r is not e for e, _ in errors)
    ]
    for route in candidates:
        try:
            return await probe(route, config, request_timeout=request_timeout)
        except ServerUnreachable as exc:
            errors.append((route, exc))
    raise _combined(errors)


async def _race(
    routes: list[Route],
    config: ClientConfig,
    delay_s: float,
    request_timeout: float,
    errors: list[tuple[Route, BaseException]],
) -> Route | None:
    """Happy eyeballs over :func:`reach`: the first route whose handshake succeeds; the
    others are cancelled. ``None`` when every route failed (``errors`` says why)."""

    def start(route: Route) -> asyncio.Task[Route]:
        return asyncio.create_task(reach(route, config, request_timeout=request_timeout))

    pending: dict[asyncio.Task[Route], Route] = {start(routes[0]): routes[0]}
    waiting = list(routes[1:])
    try:
        while pending or waiting:
            delay = delay_s if waiting else None
            done, _ = await asyncio.wait(
                pending, timeout=delay, return_when=asyncio.FIRST_COMPLETED
            )
            if not done and waiting:  # the earlier path is slow: start the next one
                route = waiting.pop(0)
                pending[start(route)] = route
                continue
            winner: Route | None = None
            for task in done:
                route = pending.pop(task)
                exc = task.exception()
                if exc is not None:
                    errors.append((route, exc))
                elif winner is None or routes.index(route) < routes.index(winner):
                    winner = route
            if winner is not None:
                return winner
            if waiting and not pending:  # the earlier path failed: start the next at once
                route = waiting.pop(0)
                pending[start(route)] = route
    finally:
        for task in pending:
            task.cancel()
        for task in pending:
            with contextlib.suppress(BaseException):
                await task
    return None


def _combined(errors: list[tuple[Route, BaseException]]) -> BaseException:
    """One error for every path that failed: a pin mismatch wins (it is an attack or a
    wrong server, never a network problem), else one message naming each path."""
    for _, exc in errors:
        if isinstance(exc, CertificateMismatch):
            return exc
    for _, exc in errors:
        if not isinstance(exc, DomogateError):
            return exc
    if len(errors) == 1:
        return errors[0][1]
    parts = "; ".join(f"{r.path} ({r.url}): {getattr(e, 'message', e)}" for r, e in errors)
    return ServerUnreachable(
        f"No path to the server answered: {parts}",
        paths=[r.path for r, _ in errors],
    )


def plan_paths_text(config: ClientConfig) -> str:
    """``local, cloud`` — the recorded policy's paths, for messages."""
    return ", ".join(allowed_paths(policy_of(config.server.connection_policy)))
