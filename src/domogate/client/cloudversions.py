"""The cloud's versions API, as the integrator uses it (``docs/cloud-publish.md``).

``GET`` and ``POST https://<cloud address>/api/installations/NAME/versions`` with HTTP
Basic ``NAME:CLOUD_PASSWORD``. The cloud's TLS is pinned like the house's link pins it:
with a fingerprint (``system.cloud.fingerprint``), the certificate the cloud presents must
be exactly that one (fetched, compared, then the only trust anchor); without one, the
system's CA store and the host name.

The upload's JSON body ``{"manifest", "signature", "content"}`` (base64url, no padding) is
streamed in chunks with an exact ``Content-Length``, each chunk counted for a progress
bar. The pure parts (the body, the next version number) are plain functions.
"""

from __future__ import annotations

import asyncio
import base64
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from domogate.client.api import error_from_response
from domogate.client.pinning import (
    MISMATCH_ADVICE,
    check_pin,
    fetch_certificate,
    is_verification_failure,
    pinned_ssl_context,
)
from domogate.core import cloudwire
from domogate.core.devicekeys import b64url_encode
from domogate.errors import (
    CertificateMismatch,
    DomogateError,
    InvalidInput,
    ServerUnreachable,
)

CHUNK = 256 * 1024
UPLOAD_TIMEOUT = 300.0

Progress = Callable[[int], None]
"""Told the number of bytes just sent."""


def split_address(text: str) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` too) → ``(host, port)``; port 7443 by default."""
    try:
        return cloudwire.split_address(text)
    except ValueError:
        raise InvalidInput(
            f"Not a cloud address: {text!r} (expected HOST or HOST:PORT, as in "
            "system.cloud.address)."
        ) from None


@dataclass(frozen=True)
class UploadBody:
    """The upload's JSON, as three byte strings sent one after the other."""

    head: bytes
    content: bytes  # the content, base64url
    tail: bytes

    @property
    def size(self) -> int:
        return len(self.head) + len(self.content) + len(self.tail)

    def chunks(self, chunk: int = CHUNK) -> list[memoryview]:
        parts: list[memoryview] = [memoryview(self.head)]
        view = memoryview(self.content)
        parts += [view[i : i + chunk] for i in range(0, len(view), chunk)]
        parts.append(memoryview(self.tail))
        return parts

    def to_bytes(self) -> bytes:
        return self.head + self.content + self.tail


def upload_body(manifest: bytes, signature: bytes, content: bytes) -> UploadBody:
    """``{"manifest": B64URL, "signature": B64URL, "content": B64URL}`` in that order."""
    head = (
        f'{{"manifest":"{b64url_encode(manifest)}","signature":"{b64url_encode(signature)}","content":"'
    ).encode("ascii")
    return UploadBody(head, base64.urlsafe_b64encode(content).rstrip(b"="), b'"}')


def latest_version(answer: dict[str, Any]) -> int:
    """The highest version a ``GET …/versions`` answer lists (0 when none)."""
    versions = answer.get("versions")
    if not isinstance(versions, list):
        raise DomogateError("The cloud's list of versions is not one (no `versions` list).")
    numbers = [
        v["version"]
        for v in versions
        if isinstance(v, dict) and isinstance(v.get("version"), int) and v["version"] > 0
    ]
    return max(numbers, default=0)


def next_version(answer: dict[str, Any] | None, explicit: int | None) -> int:
    """``explicit`` when given (at least 1), else the cloud's latest + 1."""
    if explicit is not None:
        if explicit < 1:
            raise InvalidInput(f"--version must be a positive number (got {explicit}).")
        return explicit
    return latest_version(answer or {}) + 1


def basic_auth(name: str, password: str) -> str:
    token = base64.b64encode(f"{name}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


async def cloud_ssl_context(host: str, port: int, fingerprint: str | None) -> ssl.SSLContext:
    """Pinned to ``fingerprint`` when given (the cloud's certificate is fetched once and
    compared first), else the system's CA store with the host name checked."""
    if fingerprint:
        pem = await asyncio.to_thread(fetch_certificate, host, port, 10.0, host)
        check_pin(pem, fingerprint)
        return pinned_ssl_context(pem)
    context = ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


class CloudVersionsApi:
    """One installation's versions at one cloud. Use ``async with``."""

    def __init__(
        self,
        address: str,
        name: str,
        password: str,
        *,
        context: ssl.SSLContext,
        timeout: float = 30.0,
    ) -> None:
        host, port = split_address(address)
        shown = f"[{host}]" if ":" in host else host
        self.base_url = f"https://{shown}:{port}"
        self.name = cloudwire.check_name(name)
        self._path = f"/api/installations/{quote(self.name, safe='')}/versions"
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            verify=context,
            timeout=timeout,
            trust_env=False,
            follow_redirects=False,
            headers={"Accept": "application/json", "Authorization": basic_auth(name, password)},
        )

    async def __aenter__(self) -> CloudVersionsApi:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._client.aclose()

    async def _request(self, method: str, **kwargs: Any) -> dict[str, Any]:
        what = f"{method} {self.base_url}{self._path}"
        try:
            response = await self._client.request(method, self._path, **kwargs)
        except httpx.TimeoutException as exc:
            raise ServerUnreachable(f"The cloud did not answer in time ({what}).") from exc
        except httpx.TransportError as exc:
            if is_verification_failure(exc):
                raise CertificateMismatch(
                    f"The cloud at {self.base_url} presented a certificate that does not "
                    f"match system.cloud.fingerprint; refusing to send. {MISMATCH_ADVICE}",
                    url=self.base_url,
                ) from exc
            raise ServerUnreachable(
                f"Cannot reach the cloud at {self.base_url}: {str(exc) or type(exc).__name__}.",
                url=self.base_url,
            ) from exc
        if not response.is_success:
            raise error_from_response(response)
        try:
            body = response.json()
        except (ValueError, RecursionError):
            body = None
        if not isinstance(body, dict):
            raise DomogateError(f"The cloud answered {what} with something that is not JSON.")
        return body

    async def versions(self) -> dict[str, Any]:
        """``{"installation", "versions": [...]}``, newest first."""
        return await self._request("GET")

    async def publish(self, body: UploadBody, progress: Progress | None = None) -> dict[str, Any]:
        """Upload one version, streamed; ``progress`` is told each chunk's size."""

        async def stream() -> AsyncIterator[bytes]:
            for part in body.chunks():
                yield bytes(part)
                if progress is not None:
                    progress(len(part))

        return await self._request(
            "POST",
            content=stream(),
            headers={"Content-Type": "application/json", "Content-Length": str(body.size)},
            timeout=httpx.Timeout(UPLOAD_TIMEOUT, connect=10.0),
        )
