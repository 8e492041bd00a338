"""Enrolment (``domogate connect``) and automatic sign-in with the stored device key.

config = ClientConfig.load(resolve_config_dir())
async with await sign_in(config) as session:
    print(session.user["name"], await session.api.list_clients())
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
from domogate.client.live import LiveConnection
from domogate.client.pinning import (
    check_pin,
    colon_form,
    fetch_certificate,
    fingerprint,
    host_port,
    normalise_fingerprint,
)
from domogate.core import devicekeys, joinlink
from domogate.errors import ClientError, DomogateError, InvalidInput


@dataclass
class SignedIn:
    """An authenticated session: the API client (token set) and who we are."""

    api: ServerApi
    config: ClientConfig
    authenticated: JSON
    user: JSON = field(init=False)
    device: JSON = field(init=False)
    path: str | None = field(init=False)

    def __post_init__(self) -> None:
        self.user = dict(self.authenticated.get("user") or {})
        self.device = dict(self.authenticated.get("device") or {})
        path = self.authenticated.get("path")
        self.path = None if path is None else str(path)

    @property
    def token(self) -> str | None:
        return self.api.token

    @property
    def expires_at(self) -> str | None:
        session = self.authenticated.get("session") or {}
        value = session.get("expires_at")
        return None if value is None else str(value)

    def live(self) -> LiveConnection:
        """A live channel for this session (``async with session.live() as conn``)."""
        if not self.api.token:
            raise ClientError("This session has no token.")
        return LiveConnection(self.api.ws_url, self.api.token, ssl_context=self.api.ssl_context)

    def describe(self) -> JSON:
        """What ``whoami --json`` prints."""
        return {
            "user": self.user,
            "device": self.device,
            "server": {
                "url": self.config.server.url,
                "server_id": self.config.server.server_id,
                "name": self.config.server.name,
            },
            "path": self.path,
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


async def sign_in(config: ClientConfig, *, request_timeout: float = 10) -> SignedIn:
    """Challenge, signature with the stored device key, session."""
    api = ServerApi(config.server.url, cert_pem=config.server_cert_pem, timeout=request_timeout)
    try:
        device_id = config.device.id
        issued = await api.challenge(device_id)
        challenge = str(issued["challenge"])
        message = devicekeys.challenge_message(config.server.server_id, device_id, challenge)
        signature = devicekeys.sign(config.private_key, message)
        authenticated = await api.sign_in_device(device_id, challenge, signature)
        _check_server_id(authenticated, config.server.server_id)
        api.token = str(authenticated["session"]["token"])
    except KeyError as exc:
        await api.aclose()
        raise DomogateError(f"Unexpected answer from {api.base_url}: missing {exc}.") from exc
    except BaseException:
        await api.aclose()
        raise
    return SignedIn(api=api, config=config, authenticated=authenticated)


# --- enrolment ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """What ``connect TARGET`` points at."""

    base_url: str
    server_id: str | None = None  # from a join link
    fingerprint: str | None = None  # from a join link
    otp: str | None = None  # from a join link
    server_name: str | None = None


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
    host, port = host_port(base_url)
    cert_pem = await asyncio.to_thread(fetch_certificate, host, port, request_timeout)
    if pin is not None:
        return cert_pem, check_pin(cert_pem, pin)
    actual = fingerprint(cert_pem)
    if confirm is None:
        raise InvalidInput(
            f"No certificate fingerprint to check {base_url} against. Use the join link, or "
            "pass --fingerprint with the fingerprint the server printed at start "
            f"(the server at this address presents {colon_form(actual)}).",
            fingerprint=actual,
        )
    if not confirm(base_url, colon_form(actual)):
        raise ClientError("The certificate fingerprint was not confirmed; not connecting.")
    return cert_pem, actual


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
) -> SignedIn:
    """Connect this client to a server: pin, enrol a new device key, save the config.

    OTP mode (``otp`` or the join link's OTP, plus ``name``) or password mode (``username``
    and ``password``). The config is written only after the server accepted the device.
    """
    where = target if isinstance(target, Target) else parse_target(target)
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

    cert_pem, fp = await pin_server(
        where.base_url, pin=pin, confirm=confirm_fingerprint, request_timeout=request_timeout
    )
    api = ServerApi(where.base_url, cert_pem=cert_pem, timeout=request_timeout)
    try:
        info = await api.info()
        server_id = str(info.get("server_id") or "")
        if not server_id:
            raise DomogateError(f"{where.base_url} did not tell its server id; is it domogate?")
        if where.server_id is not None and server_id != where.server_id:
            raise ClientError(
                f"The server at {where.base_url} is not the one of the join link "
                f"(its id is {server_id}, the link says {where.server_id}); not connecting.",
                expected=where.server_id,
                actual=server_id,
            )
        key = devicekeys.generate_private_key()
        public_key = devicekeys.public_key_of(key)
        dev_name = (device_name or "").strip() or default_device_name()
        if use_password:
            assert username is not None and password is not None
            authenticated = await api.login_password(username, password, dev_name, public_key)
        else:
            assert the_otp is not None and name is not None
            authenticated = await api.redeem_otp(the_otp, name.strip(), dev_name, public_key)
        _check_server_id(authenticated, server_id)
        api.token = str(authenticated["session"]["token"])
        user = authenticated["user"]
        device = authenticated["device"]
        config = ClientConfig(
            directory=config_dir,
            server=ServerEntry(
                url=where.base_url,
                server_id=server_id,
                name=_opt(info.get("name")) or where.server_name,
                fingerprint=fp,
            ),
            device=Identity(id=str(device["id"]), name=_opt(device.get("name")) or dev_name),
            user=Identity(id=str(user["id"]), name=_opt(user.get("name"))),
            private_key=key,
            server_cert_pem=cert_pem,
        )
        config.save()
    except KeyError as exc:
        await api.aclose()
        raise DomogateError(f"Unexpected answer from {where.base_url}: missing {exc}.") from exc
    except BaseException:
        await api.aclose()
        raise
    return SignedIn(api=api, config=config, authenticated=authenticated)


def _check_server_id(authenticated: JSON, expected: str) -> None:
    got = authenticated.get("server_id")
    if got is not None and str(got) != expected:
        raise ClientError(
            f"The server answered as {got}, not as the server {expected} this client knows.",
            expected=expected,
            actual=got,
        )


def _opt(value: Any) -> str | None:
    return None if value is None else str(value)
