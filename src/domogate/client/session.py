"""Enrolment (``domogate connect``) and automatic sign-in with the stored device key.

config = ClientConfig.load(resolve_config_dir())
async with await sign_in(config) as session:
    print(session.user["name"], session.via, await session.api.list_clients())

Sign-in follows the connection policy (:mod:`domogate.core.paths`): the path comes from a
plan (the recorded policy, or ``--path``), opened by :func:`~domogate.client.connector.
open_first`; the server's ``/api/info`` answer refreshes the recorded paths and policy.
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from domogate.client.api import JSON, ServerApi, normalise_base_url
from domogate.client.config import ClientConfig, Identity, ServerEntry
from domogate.client.connector import default_plan, open_first
from domogate.client.live import LiveConnection
from domogate.client.pinning import (
    check_pin,
    colon_form,
    fetch_certificate,
    fingerprint,
    host_port,
    normalise_fingerprint,
)
from domogate.client.routes import Route, cloud_route, local_route
from domogate.core import devicekeys, joinlink
from domogate.core.names import name_key
from domogate.core.paths import Plan
from domogate.errors import ClientError, DomogateError, InvalidInput, Revoked, ServerUnreachable


@dataclass
class SignedIn:
    """An authenticated session: the API client (token set) and who we are."""

    api: ServerApi
    config: ClientConfig
    authenticated: JSON
    route: Route | None = None  # the path this client took (None: the recorded URL)
    user: JSON = field(init=False)
    device: JSON = field(init=False)
    path: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.user = dict(expect_dict(self.authenticated.get("user"), "user"))
        self.device = dict(expect_dict(self.authenticated.get("device"), "device"))
        path = self.authenticated.get("path")
        self.path = None if path is None else str(path)

    @property
    def token(self) -> str | None:
        return self.api.token

    @property
    def via(self) -> str:
        """The path this client took: ``local`` or ``cloud``."""
        return "local" if self.route is None else self.route.path

    @property
    def expires_at(self) -> str | None:
        session = self.authenticated.get("session")
        value = session.get("expires_at") if isinstance(session, dict) else None
        return None if value is None else str(value)

    def live(self, *, close_timeout: float = 10) -> LiveConnection:
        """A live channel for this session (``async with session.live() as conn``)."""
        if not self.api.token:
            raise ClientError("This session has no token.")
        return LiveConnection(
            self.api.ws_url,
            self.api.token,
            ssl_context=self.api.ssl_context,
            dial=self.api.dial,
            server_hostname=self.api.server_hostname,
            close_timeout=close_timeout,
        )

    def describe(self) -> JSON:
        """What ``whoami --json`` prints."""
        return {
            "user": self.user,
            "device": self.device,
            "server": {
                "url": self.config.server.url,
                "server_id": self.config.server.server_id,
                "name": self.config.server.name,
                "cloud_url": self.config.server.cloud_url,
            },
            "path": self.path,
            "via": self.via,
        }

    async def aclose(self, *, logout: bool = True) -> None:
        """End the session on the server (best effort) and close the HTTP client."""
        try:
            if logout and self.api.token:
                with contextlib.suppress(DomogateError):
                    await self.api.logout()
                self.api.token = None
        finally:
            await self.api.aclose()

    async def __aenter__(self) -> SignedIn:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


UNEXPECTED_ANSWER = "The server sent an unexpected answer"


def unexpected_answer(where: str, exc: BaseException | None = None) -> DomogateError:
    """The error for server data of the wrong shape (never a traceback)."""
    reason = "" if exc is None else f"; {exc.__class__.__name__}: {str(exc)[:200]}"
    return DomogateError(f"{UNEXPECTED_ANSWER} ({where}{reason}).", url=where)


SERVER_DATA_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError)
"""What malformed server data raises when read as the expected shape."""


def expect_dict(value: object, what: str) -> dict[str, Any]:
    """``value`` when it is a JSON object, else the unexpected-answer error."""
    if not isinstance(value, dict):
        raise TypeError(f"{what} is not an object")
    return value


def expect_str(value: object, what: str) -> str:
    """``value`` when it is a non-empty JSON string, else the unexpected-answer error."""
    if not isinstance(value, str) or not value:
        raise TypeError(f"{what} is not a non-empty string")
    return value


def session_token(authenticated: JSON) -> str:
    session = expect_dict(authenticated.get("session"), "session")
    return expect_str(session.get("token"), "session.token")


INSECURE_HTTP_WARNING = (
    "WARNING: plain HTTP (--insecure-http): one-time passwords, passwords, setup codes and "
    "session tokens cross the network unencrypted. Use this for development only."
)


def require_secure_transport(base_url: str, insecure_http: bool) -> None:
    """Refuse a plain ``http://`` server unless ``--insecure-http`` accepted it."""
    if base_url.lower().startswith("http://") and not insecure_http:
        raise InvalidInput(
            f"The server URL {base_url} is plain HTTP: one-time passwords, passwords and "
            "setup codes would cross the network unencrypted. Use the https:// address; "
            "pass --insecure-http only for development.",
            url=base_url,
        )


async def _abandon(api: ServerApi) -> None:
    """Log out (best effort) and close the HTTP client after a failed sign-in."""
    try:
        if api.token:
            with contextlib.suppress(DomogateError):
                await api.logout()
            api.token = None
    finally:
        await api.aclose()


async def sign_in(
    config: ClientConfig, *, request_timeout: float = 10, plan: Plan | None = None
) -> SignedIn:
    """Open the server on the plan's path (default: the recorded policy's), refresh the
    recorded paths and policy from its ``/api/info``, then challenge, signature with the
    stored device key, session."""
    require_secure_transport(config.server.url, config.server.insecure_http)
    opened = await open_first(config, plan or default_plan(config), request_timeout=request_timeout)
    api = opened.api
    try:
        if config.with_server_info(opened.info):
            config.save()
        device_id = config.device.id
        issued = await api.challenge(device_id)
        challenge = expect_str(issued.get("challenge"), "challenge")
        message = devicekeys.challenge_message(config.server.server_id, device_id, challenge)
        signature = devicekeys.sign(config.private_key, message)
        authenticated = await api.sign_in_device(device_id, challenge, signature)
        _check_server_id(authenticated, config.server.server_id)
        api.token = session_token(authenticated)
        return SignedIn(api=api, config=config, authenticated=authenticated, route=opened.route)
    except SERVER_DATA_ERRORS as exc:
        await _abandon(api)
        raise unexpected_answer(api.base_url, exc) from exc
    except BaseException:
        await _abandon(api)
        raise


# --- enrolment ----------------------------------------------------------------------------


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
    cert_pem = await asyncio.to_thread(fetch_certificate, host, port, request_timeout, sni)
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
    path: a newcomer away from home); the same pin on either."""
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
        _check_server_id(authenticated, server_id)
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
        await _abandon(api)
        raise unexpected_answer(where.base_url, exc) from exc
    except BaseException:
        await _abandon(api)
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


def _check_server_id(authenticated: JSON, expected: str) -> None:
    """The server must say which server it is, and be the one expected: a missing
    ``server_id`` counts as a mismatch."""
    got = authenticated.get("server_id")
    if not isinstance(got, str) or got != expected:
        shown = "no server id" if got is None else repr(str(got)[:100])
        raise ClientError(
            f"The server answered as {shown}, not as the server {expected} this client knows.",
            expected=expected,
            actual=None if got is None else str(got)[:100],
        )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
