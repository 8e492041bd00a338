"""Enrolment: ``domogate connect`` with a join link, an OTP or a password; the server's
certificate pinned on first contact (local path first, the cloud path when local cannot be
reached), the device key made and registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from domogate.client.api import ServerApi, normalise_base_url
from domogate.client.config import ClientConfig, Identity, ServerEntry
from domogate.client.pinning import (
    check_pin,
    colon_form,
    fetch_certificate,
    fingerprint,
    host_port,
    normalise_fingerprint,
)
from domogate.client.routes import Route, cloud_route, local_route
from domogate.client.session import (
    SERVER_DATA_ERRORS,
    SignedIn,
    abandon_api,
    check_server_id,
    expect_dict,
    expect_str,
    require_secure_transport,
    session_token,
    unexpected_answer,
)
from domogate.core import devicekeys, joinlink
from domogate.core.names import name_key
from domogate.core.paths import HAPPY_EYEBALLS_DELAY_S
from domogate.errors import (
    CertificateMismatch,
    ClientError,
    DomogateError,
    InvalidInput,
    Revoked,
    ServerUnreachable,
)


@dataclass(frozen=True)
class Target:
    """What ``connect TARGET`` points at."""

    base_url: str
    server_id: str | None = None  # from a join link
    fingerprint: str | None = None  # from a join link
    otp: str | None = None  # from a join link
    server_name: str | None = None
    cloud_url: str | None = None  # from a join link (c=)
    cloud_relay: str | None = None  # from a join link (r=)


def parse_target(target: str) -> Target:
    """A join link (``https://h:p/join#v=1&s=…``) or a server URL."""
    text = target.strip()
    if joinlink.is_join_link(text):
        link = joinlink.parse(text)
        return Target(
            base_url=link.base_url,
            server_id=link.server_id,
            fingerprint=(
                None if link.fingerprint is None else normalise_fingerprint(link.fingerprint)
            ),
            otp=link.otp,
            server_name=link.server_name,
            cloud_url=link.cloud_url,
            cloud_relay=link.cloud_relay,
        )
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"Not a join link or server URL: {text[:200]!r} "
            "(expected https://HOST:PORT/join#… or https://HOST:PORT)."
        )
    path = parts.path.rstrip("/")
    if path == joinlink.JOIN_PATH:
        path = ""
    return Target(base_url=normalise_base_url(f"{parts.scheme}://{parts.netloc}{path}"))


def default_device_name() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "user"
    return f"{user}@{socket.gethostname()} (cli)"


ConfirmFingerprint = Callable[[str, str], bool]
"""``confirm(url, fingerprint_colon_form) -> trust?`` asked when there is no pin."""


async def pin_server(
    base_url: str,
    *,
    pin: str | None,
    confirm: ConfirmFingerprint | None = None,
    request_timeout: float = 10,
    route: Route | None = None,
    fetch: Callable[[str, int, float, str], Awaitable[bytes]] | None = None,
) -> tuple[bytes | None, str | None]:
    """Fetch and check the server's certificate: ``(cert_pem, fingerprint)``.

    ``(None, None)`` for plain HTTP. With no ``pin``, ``confirm`` decides (a person compares
    the fingerprint); without ``confirm`` either, it is an error asking for ``--fingerprint``.
    """
    if not base_url.startswith("https://"):
        if pin is not None:
            raise InvalidInput(
                f"{base_url} is plain HTTP: there is no certificate to pin; drop --fingerprint "
                "or use the https:// address."
            )
        return None, None
    if route is None:
        host, port = host_port(base_url)
        sni = host
    else:
        host, port, sni = route.dial_host, route.dial_port, route.server_hostname
    if fetch is None:
        cert_pem = await asyncio.to_thread(fetch_certificate, host, port, request_timeout, sni)
    else:
        cert_pem = await fetch(host, port, request_timeout, sni)
    if pin is not None:
        return cert_pem, check_pin(cert_pem, pin)
    actual = fingerprint(cert_pem)
    if confirm is None:
        # Never show the fingerprint presented here: pasting it back would trust whoever
        # answered (a man in the middle as well as the real server).
        raise InvalidInput(
            f"No certificate fingerprint to check {base_url} against. Use the join link, or "
            "pass --fingerprint with the server's fingerprint, read on the server with "
            "`domogate server info --data DIR` or taken from a join link."
        )
    if not confirm(base_url, colon_form(actual)):
        raise ClientError("The certificate fingerprint was not confirmed; not connecting.")
    return cert_pem, actual


async def _pin_on_first(
    routes: list[Route],
    *,
    pin: str | None,
    confirm: ConfirmFingerprint | None,
    request_timeout: float,
) -> tuple[Route, bytes | None, str | None]:
    """Pin the server on the first route that answers (local, then the join link's cloud
    path: a newcomer away from home); the same pin on either.

    With a pin (a join link's ``fp`` or ``--fingerprint``), happy eyeballs: the cloud is
    tried :data:`HAPPY_EYEBALLS_DELAY_S` after local when local has not answered (at once
    when it failed), the first good certificate wins — a home network that swallows
    packets costs 250 ms, not the request timeout. A wrong certificate on one route (another
    machine at the local address, away from home) does not stop the other, which is
    checked against the same pin. Without a pin a person confirms the
    fingerprint, so the routes are asked one after the other."""
    if pin is None or len(routes) < 2:
        return await _pin_in_turn(routes, pin=pin, confirm=confirm, request_timeout=request_timeout)

    async def attempt(route: Route) -> tuple[Route, bytes | None, str | None]:
        cert_pem, fp = await pin_server(
            route.url,
            pin=pin,
            request_timeout=request_timeout,
            route=None if route.path == "local" else route,
            fetch=_fetch_in_daemon_thread,
        )
        return route, cert_pem, fp

    tasks = [asyncio.ensure_future(attempt(routes[0]))]
    try:
        await asyncio.wait(tasks, timeout=HAPPY_EYEBALLS_DELAY_S)
        tasks.append(asyncio.ensure_future(attempt(routes[1])))
        failures: list[BaseException] = []
        pending = set(tasks)
        while pending:
            done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                exc = task.exception()
                if exc is None:
                    return task.result()
                if not isinstance(exc, ServerUnreachable | CertificateMismatch):
                    raise exc
                failures.append(exc)
        # Both failed. A wrong certificate says more than a silence (another machine at
        # the local address away from home, or a relay that ends TLS itself): it wins.
        raise next((f for f in failures if isinstance(f, CertificateMismatch)), failures[0])
    finally:
        for task in tasks:
            task.cancel()


async def _pin_in_turn(
    routes: list[Route],
    *,
    pin: str | None,
    confirm: ConfirmFingerprint | None,
    request_timeout: float,
) -> tuple[Route, bytes | None, str | None]:
    failure: ServerUnreachable | None = None
    for route in routes:
        try:
            cert_pem, fp = await pin_server(
                route.url,
                pin=pin,
                confirm=confirm,
                request_timeout=request_timeout,
                route=None if route.path == "local" else route,
            )
        except ServerUnreachable as exc:
            failure = exc
            continue
        return route, cert_pem, fp
    assert failure is not None
    raise failure


async def _fetch_in_daemon_thread(host: str, port: int, limit_s: float, sni: str) -> bytes:
    """``fetch_certificate`` in a daemon thread of its own: the attempt that loses the race
    is cancelled here and its thread, blocked in ``connect``, does not hold the process
    at exit (``asyncio.to_thread``'s pool would be waited for)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[bytes] = loop.create_future()

    def settle(result: bytes | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            assert result is not None
            future.set_result(result)

    def run() -> None:
        try:
            pem = fetch_certificate(host, port, limit_s, sni)
        except BaseException as exc:  # handed to the loop, raised there
            with contextlib.suppress(RuntimeError):  # the loop has closed: nobody waits
                loop.call_soon_threadsafe(settle, None, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, pem, None)

    threading.Thread(target=run, name="domogate-pin", daemon=True).start()
    return await future


async def enrol(
    target: str | Target,
    config_dir: Path,
    *,
    otp: str | None = None,
    name: str | None = None,
    username: str | None = None,
    password: str | None = None,
    device_name: str | None = None,
    pin_fingerprint: str | None = None,
    confirm_fingerprint: ConfirmFingerprint | None = None,
    request_timeout: float = 10,
    insecure_http: bool = False,
) -> SignedIn:
    """Connect this client to a server: pin, enrol a new device key, save the config.

    OTP mode (``otp`` or the join link's OTP, plus ``name``) or password mode (``username``
    and ``password``). The config is written only after the server accepted the device.
    A plain ``http://`` server is refused unless ``insecure_http`` (``--insecure-http``);
    the choice is remembered in the config.
    """
    where = target if isinstance(target, Target) else parse_target(target)
    require_secure_transport(where.base_url, insecure_http)
    if username is not None and otp is not None:
        raise InvalidInput("Use either --otp or --username, not both.")
    use_password = username is not None
    the_otp = None if use_password else (otp or where.otp)
    if use_password:
        if not password:
            raise InvalidInput("A password is needed to sign in with --username.")
    elif not the_otp:
        raise InvalidInput(
            "Nothing to sign in with: give a join link with an OTP, --otp CODE, "
            "or --username NAME --password-stdin."
        )
    elif not name or not name.strip():
        raise InvalidInput("Signing in with a one-time password needs your name (--name).")

    pin = where.fingerprint
    if pin_fingerprint is not None:
        typed = normalise_fingerprint(pin_fingerprint)
        if pin is not None and typed != pin:
            raise InvalidInput(
                "--fingerprint differs from the fingerprint in the join link; check both."
            )
        pin = typed

    routes = [local_route(where.base_url)]
    if where.cloud_url and where.cloud_relay and where.base_url.startswith("https://"):
        routes.append(cloud_route(where.cloud_url, where.cloud_relay))
    route, cert_pem, fp = await _pin_on_first(
        routes, pin=pin, confirm=confirm_fingerprint, request_timeout=request_timeout
    )
    api = ServerApi(
        route.url,
        cert_pem=cert_pem,
        timeout=request_timeout,
        dial=None if route.path == "local" else (route.dial_host, route.dial_port),
        server_hostname=None if route.path == "local" else route.server_hostname,
    )
    try:
        info = await api.info()
        server_id = info.get("server_id")
        if not isinstance(server_id, str) or not server_id:
            raise DomogateError(f"{where.base_url} did not tell its server id; is it domogate?")
        if where.server_id is not None and server_id != where.server_id:
            raise ClientError(
                f"The server at {where.base_url} is not the one of the join link "
                f"(its id is {server_id}, the link says {where.server_id}); not connecting.",
                expected=where.server_id,
                actual=server_id,
            )
        key = devicekeys.generate_private_key()
        dev_name = (device_name or "").strip() or default_device_name()
        if use_password:
            assert username is not None and password is not None
            known = _enrolled_as(config_dir, server_id, username)
            authenticated = None
            if known is not None:
                # Signing in again with the password (automatic authentication off): keep
                # this device, and prove its key so that others' failed guesses on the
                # account never refuse it. A revoked key is not reused: a fresh one then.
                proof = await _proof_of(api, server_id, known)
                try:
                    authenticated = await api.login_password(
                        username,
                        password,
                        dev_name,
                        devicekeys.public_key_of(known.private_key),
                        proof=proof,
                    )
                    key = known.private_key
                except Revoked:
                    authenticated = None
            if authenticated is None:
                authenticated = await api.login_password(
                    username, password, dev_name, devicekeys.public_key_of(key)
                )
        else:
            assert the_otp is not None and name is not None
            authenticated = await api.redeem_otp(
                the_otp, name.strip(), dev_name, devicekeys.public_key_of(key)
            )
        check_server_id(authenticated, server_id)
        api.token = session_token(authenticated)
        user = expect_dict(authenticated.get("user"), "user")
        device = expect_dict(authenticated.get("device"), "device")
        config = ClientConfig(
            directory=config_dir,
            server=ServerEntry(
                url=where.base_url,
                server_id=server_id,
                name=_opt(info.get("name")) or where.server_name,
                fingerprint=fp,
                insecure_http=where.base_url.lower().startswith("http://"),
                cloud_url=where.cloud_url if len(routes) > 1 else None,
                cloud_relay=where.cloud_relay if len(routes) > 1 else None,
            ),
            device=Identity(
                id=expect_str(device.get("id"), "device.id"),
                name=_opt(device.get("name")) or dev_name,
            ),
            user=Identity(id=expect_str(user.get("id"), "user.id"), name=_opt(user.get("name"))),
            private_key=key,
            server_cert_pem=cert_pem,
        )
        config.with_server_info(info)
        signed = SignedIn(api=api, config=config, authenticated=authenticated, route=route)
        config.save()
        return signed
    except SERVER_DATA_ERRORS as exc:
        await abandon_api(api)
        raise unexpected_answer(where.base_url, exc) from exc
    except BaseException:
        await abandon_api(api)
        raise


async def _proof_of(api: ServerApi, server_id: str, known: ClientConfig) -> dict[str, str] | None:
    """A fresh challenge signed with the enrolled device's key; None when the server will
    not give a challenge now (the sign-in then goes on without a proof)."""
    try:
        issued = await api.challenge(known.device.id)
        challenge = expect_str(issued.get("challenge"), "challenge")
    except (DomogateError, *SERVER_DATA_ERRORS):
        return None
    message = devicekeys.challenge_message(server_id, known.device.id, challenge)
    return {
        "device_id": known.device.id,
        "challenge": challenge,
        "signature": devicekeys.sign(known.private_key, message),
    }


def _enrolled_as(config_dir: Path, server_id: str, username: str) -> ClientConfig | None:
    """This config folder's enrolment, when it is ``username``'s on this very server."""
    try:
        known = ClientConfig.load(config_dir)
    except DomogateError:
        return None
    if known.server.server_id != server_id or known.user.name is None:
        return None
    return known if name_key(known.user.name) == name_key(username) else None


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
