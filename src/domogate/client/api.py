"""Async client of the HTTP API (docs/api.md), one method per route.

Every method returns the parsed JSON body. A server error (``{"error": {...}}``) is raised
as the matching :mod:`domogate.errors` exception; a server that cannot be reached raises
``ServerUnreachable`` naming the URL, and a certificate that is not the pinned one raises
``CertificateMismatch`` before any request byte is sent.

    async with ServerApi("https://maison.local:7550", cert_pem=pem) as api:
        info = await api.info()
"""

from __future__ import annotations

import base64
import json
import ssl
from types import TracebackType
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from domogate.client.pinning import MISMATCH_ADVICE, is_verification_failure, pinned_ssl_context
from domogate.errors import (
    CertificateMismatch,
    DomogateError,
    InvalidInput,
    RateLimited,
    ServerUnreachable,
    error_from_dict,
)

JSON = dict[str, Any]

DEPLOY_TIMEOUT = 120.0


def normalise_base_url(url: str) -> str:
    """``https://host:port/`` → ``https://host:port`` (a path prefix is kept)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(f"Not a server URL: {url!r} (expected https://HOST:PORT).")
    path = parts.path.rstrip("/")
    return f"{parts.scheme}://{parts.netloc}{path}"


def websocket_url(base_url: str) -> str:
    """``https://h:p`` → ``wss://h:p/api/ws`` (``ws://`` for plain HTTP)."""
    base = normalise_base_url(base_url)
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/api/ws"
    return "ws://" + base[len("http://") :] + "/api/ws"


def error_from_response(response: httpx.Response) -> DomogateError:
    """The exception a non-2xx response stands for."""
    body: Any = None
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        details = error.get("details")
        if error.get("code") == "rate_limited" and not (
            isinstance(details, dict) and "retry_after" in details
        ):
            message = error.get("message")
            return RateLimited(
                _retry_after(response), message if isinstance(message, str) and message else None
            )
        return safe_error_from_dict(error)
    if response.status_code == 429:
        return RateLimited(_retry_after(response))
    reason = response.reason_phrase or "error"
    return DomogateError(
        f"The server answered HTTP {response.status_code} {reason} to "
        f"{response.request.method} {response.request.url}.",
        status=response.status_code,
    )


def safe_error_from_dict(error: dict[str, Any]) -> DomogateError:
    """:func:`error_from_dict` for an error body from the network, whatever its shape: a
    string code and message, details only when they are an object (without the keys that
    the exception takes itself), a numeric ``retry_after``."""
    code = error.get("code")
    message = error.get("message")
    clean: dict[str, Any] = {
        "code": code if isinstance(code, str) and code else "internal_error",
        "message": message if isinstance(message, str) else "",
    }
    details = error.get("details")
    if isinstance(details, dict):
        kept = {str(k): v for k, v in details.items() if str(k).isidentifier() and k != "message"}
        if "retry_after" in kept:
            try:
                kept["retry_after"] = max(0.0, float(kept["retry_after"]))
            except (TypeError, ValueError, OverflowError):
                del kept["retry_after"]
            else:
                if kept["retry_after"] != kept["retry_after"]:  # NaN
                    del kept["retry_after"]
        if kept:
            clean["details"] = kept
    try:
        return error_from_dict(clean)
    except (TypeError, ValueError, AttributeError, OverflowError):
        return DomogateError(clean["message"] or None)


def _retry_after(response: httpx.Response) -> float:
    try:
        value = float(response.headers.get("Retry-After", "1"))
    except ValueError:
        return 1.0
    return value if value >= 0 else 1.0


def _q(segment: str) -> str:
    return quote(segment, safe="")


def deploy_authorization(setup_code: str | None, password: str | None) -> str:
    """The ``Authorization`` header of a deploy: Basic ``setup-code:CODE`` or
    ``service:PASSWORD``."""
    user, secret = ("setup-code", setup_code) if setup_code is not None else ("service", password)
    token = base64.b64encode(f"{user}:{secret or ''}".encode()).decode("ascii")
    return f"Basic {token}"


class ServerApi:
    """One server, one ``httpx.AsyncClient``. Use ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        base_url: str,
        *,
        cert_pem: bytes | None,
        token: str | None = None,
        timeout: float = 10,
        transport: httpx.AsyncBaseTransport | None = None,
        dial: tuple[str, int] | None = None,
        server_hostname: str | None = None,
    ) -> None:
        """``dial`` (host, port) connects somewhere else than ``base_url``'s host (the cloud
        path: the relay), with TLS server name ``server_hostname`` and ``Host`` of
        ``base_url``: the URL stays the one the server is known by on this path."""
        self.base_url = normalise_base_url(base_url)
        self.dial = dial
        self.server_hostname = server_hostname
        self.cert_pem = cert_pem
        self.token = token
        self.timeout = timeout
        self.ssl_context: ssl.SSLContext | None = None
        verify: ssl.SSLContext | bool = False
        if self.base_url.startswith("https://") and transport is None:
            if cert_pem is None:
                # Never the system's CAs: a server is trusted by its pinned certificate
                # alone (a join link's fingerprint, --fingerprint, or a confirmed one).
                raise InvalidInput(
                    f"No pinned certificate for {self.base_url}: connect with the join link "
                    "or --fingerprint first."
                )
            self.ssl_context = pinned_ssl_context(cert_pem)
            verify = self.ssl_context
        client_base = self.base_url
        headers = {"Accept": "application/json"}
        self._extensions: dict[str, Any] = {}
        if dial is not None:
            parts = urlsplit(self.base_url)
            host = f"[{dial[0]}]" if ":" in dial[0] else dial[0]
            client_base = f"{parts.scheme}://{host}:{dial[1]}{parts.path}"
            headers["Host"] = parts.netloc
            if server_hostname:
                self._extensions["sni_hostname"] = server_hostname
        self._client = httpx.AsyncClient(
            base_url=client_base,
            verify=verify,
            timeout=timeout,
            trust_env=False,  # no proxies or CA bundles from the environment
            follow_redirects=False,
            transport=transport,
            headers=headers,
        )

    @property
    def ws_url(self) -> str:
        return websocket_url(self.base_url)

    async def __aenter__(self) -> ServerApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # --- plumbing ---------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        request_timeout: float | None = None,
        headers: dict[str, str] | None = None,
    ) -> httpx.Response:
        headers = dict(headers or {})
        if self.token and "Authorization" not in headers:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.base_url + path
        try:
            response = await self._client.request(
                method,
                path,
                json=json,
                params={k: v for k, v in (params or {}).items() if v is not None} or None,
                headers=headers,
                timeout=request_timeout if request_timeout is not None else self.timeout,
                extensions=self._extensions or None,
            )
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(
                f"The server at {self.base_url} did not answer in time ({method} {path}).",
                url=url,
            ) from exc
        except httpx.TransportError as exc:
            if is_verification_failure(exc):
                raise CertificateMismatch(
                    f"The server at {self.base_url} presented a certificate that does not "
                    f"match the pinned one; refusing to connect. {MISMATCH_ADVICE}",
                    url=self.base_url,
                ) from exc
            raise ServerUnreachable(
                f"Cannot reach the server at {self.base_url}: {str(exc) or type(exc).__name__}.",
                url=url,
            ) from exc
        if not response.is_success:
            raise error_from_response(response)
        return response

    async def _json(self, method: str, path: str, **kwargs: Any) -> JSON:
        response = await self._send(method, path, **kwargs)
        try:
            body = response.json()
        except (ValueError, RecursionError) as exc:
            raise DomogateError(
                f"The server answered {method} {path} with something that is not JSON.",
                status=response.status_code,
            ) from exc
        if not isinstance(body, dict):
            raise DomogateError(f"Unexpected answer to {method} {path}.")
        return body

    # --- public -----------------------------------------------------------------------

    async def info(self) -> JSON:
        return await self._json("GET", "/api/info")

    # --- authentication ---------------------------------------------------------------

    async def login_password(
        self,
        username: str,
        password: str,
        device_name: str,
        public_key: str,
        proof: dict[str, str] | None = None,
    ) -> JSON:
        """Password sign-in; ``proof`` (device_id, challenge, signature) when this client's
        enrolled device signs in again: others' failures on the account never refuse it."""
        body: JSON = {
            "username": username,
            "password": password,
            "device": {"name": device_name, "public_key": public_key},
        }
        if proof is not None:
            body["proof"] = proof
        return await self._json("POST", "/api/auth/password", json=body)

    async def redeem_otp(self, otp: str, name: str, device_name: str, public_key: str) -> JSON:
        return await self._json(
            "POST",
            "/api/auth/otp",
            json={
                "otp": otp,
                "name": name,
                "device": {"name": device_name, "public_key": public_key},
            },
        )

    async def challenge(self, device_id: str) -> JSON:
        return await self._json("POST", "/api/auth/challenge", json={"device_id": device_id})

    async def sign_in_device(self, device_id: str, challenge: str, signature: str) -> JSON:
        return await self._json(
            "POST",
            "/api/auth/device",
            json={"device_id": device_id, "challenge": challenge, "signature": signature},
        )

    async def logout(self) -> None:
        await self._send("POST", "/api/auth/logout")

    async def me(self) -> JSON:
        return await self._json("GET", "/api/me")

    # --- project ----------------------------------------------------------------------

    async def project(self) -> JSON:
        return await self._json("GET", "/api/project")

    async def deploy(
        self,
        project_data: dict[str, Any],
        *,
        setup_code: str | None = None,
        password: str | None = None,
        publisher_key: str | None = None,
    ) -> JSON:
        if (setup_code is None) == (password is None):
            raise InvalidInput("Deploy needs either the setup code or the service password.")
        body: dict[str, Any] = {"project": project_data}
        if publisher_key is not None:
            body["publisher_key"] = publisher_key
        return await self._json(
            "POST",
            "/api/deploy",
            json=body,
            headers={"Authorization": deploy_authorization(setup_code, password)},
            request_timeout=max(self.timeout, DEPLOY_TIMEOUT),
        )

    # --- objects ----------------------------------------------------------------------

    async def states(self) -> JSON:
        return await self._json("GET", "/api/states")

    async def command(self, object_id: str, attribute: str, value: Any) -> JSON:
        return await self._json(
            "POST",
            f"/api/objects/{_q(object_id)}/command",
            json={"attribute": attribute, "value": value},
        )

    # --- managing clients -------------------------------------------------------------

    async def list_clients(self) -> JSON:
        return await self._json("GET", "/api/clients")

    async def add_client(self, **fields: Any) -> JSON:
        """``name``, ``group``, ``admin``, ``valid_for_s``, ``account_expires_at``, ``paths``."""
        body = {k: v for k, v in fields.items() if v is not None}
        return await self._json("POST", "/api/clients", json=body)

    async def issue_otp(self, user_id: str, valid_for_s: int | None = None) -> JSON:
        body: JSON = {} if valid_for_s is None else {"valid_for_s": valid_for_s}
        return await self._json("POST", f"/api/clients/{_q(user_id)}/otp", json=body)

    async def qr(self, user_id: str, fmt: str = "png") -> bytes:
        if fmt not in ("png", "svg"):
            raise InvalidInput("The QR code format is png or svg.")
        response = await self._send("GET", f"/api/clients/{_q(user_id)}/qr.{fmt}")
        return response.content

    async def revoke_user(self, user_id: str) -> JSON:
        return await self._json("DELETE", f"/api/clients/{_q(user_id)}")

    async def revoke_device(self, user_id: str, device_id: str) -> JSON:
        return await self._json("DELETE", f"/api/clients/{_q(user_id)}/devices/{_q(device_id)}")

    # --- audit ------------------------------------------------------------------------

    async def audit(self, limit: int | None = None, user_id: str | None = None) -> JSON:
        return await self._json("GET", "/api/audit", params={"limit": limit, "user_id": user_id})

    async def audit_jsonl(self) -> str:
        """The raw export (JSON lines); see :func:`parse_jsonl` to read it safely."""
        response = await self._send("GET", "/api/audit.jsonl")
        return response.text

    async def audit_events(self) -> list[JSON]:
        """The complete audit export, each line checked to be a JSON object."""
        return parse_jsonl(await self.audit_jsonl())


def parse_jsonl(text: str) -> list[JSON]:
    """JSON lines (blank lines skipped) as objects; ``InvalidInput`` naming the first line
    that is not a JSON object ("malformed audit export from the server")."""
    events: list[JSON] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError) as exc:
            raise InvalidInput(
                f"Malformed audit export from the server: line {number} is not JSON."
            ) from exc
        if not isinstance(event, dict):
            raise InvalidInput(
                f"Malformed audit export from the server: line {number} is not a JSON object."
            )
        events.append(event)
    return events
