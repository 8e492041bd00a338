"""Enrolment (``domogate connect``) and automatic sign-in with the stored device key.

config = ClientConfig.load(resolve_config_dir())
async with await sign_in(config) as session:
    print(session.user["name"], session.via, await session.api.list_clients())

Sign-in follows the connection policy (:mod:`domogate.core.paths`): the path comes from a
plan (the recorded policy, or ``--path``), opened by :func:`~domogate.client.connector.
open_first`; the server's ``/api/info`` answer refreshes the recorded paths and policy.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from domogate.client.api import JSON, ServerApi
from domogate.client.config import ClientConfig
from domogate.client.connector import default_plan, open_first
from domogate.client.live import LiveConnection
from domogate.client.routes import Route
from domogate.core import devicekeys
from domogate.core.paths import Plan
from domogate.errors import ClientError, DomogateError, InvalidInput


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


async def abandon_api(api: ServerApi) -> None:
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
        check_server_id(authenticated, config.server.server_id)
        api.token = session_token(authenticated)
        return SignedIn(api=api, config=config, authenticated=authenticated, route=opened.route)
    except SERVER_DATA_ERRORS as exc:
        await abandon_api(api)
        raise unexpected_answer(api.base_url, exc) from exc
    except BaseException:
        await abandon_api(api)
        raise


def check_server_id(authenticated: JSON, expected: str) -> None:
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
