"""Published versions over the home server's control link (``docs/cloud-publish.md``):
the server's side of ``version_available``, ``get_version`` → ``version`` and
``version_result``.

:class:`VersionChannel` lives as long as the :class:`~domogate.cloud.link.LinkClient`
(across reconnections): the link attaches it to each control link after the welcome and
detaches it when that link ends. A fetch waits for the cloud's ``version`` answer (a fetch
on no link, a link that ends, a ``not_found`` or no answer in time raise
``UpdateUnavailable``); a report is kept until a link is up to carry it. Nothing here
trusts what the cloud sends: the service checks it (``core.publishing.check_version``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from typing import Any, Protocol

from domogate.core.publishing import MAX_CONTENT_BYTES, MAX_MANIFEST_BYTES
from domogate.errors import UpdateUnavailable
from domogate.services.ports import PublishedVersion, VersionListener, VersionNotice, VersionResult

log = logging.getLogger("domogate.cloud.link")

FETCH_TIMEOUT_S = 300.0  # 64 MiB over a slow uplink of the cloud's
MAX_SIGNATURE_BYTES = 64
MAX_REPORTS = 16  # kept while no link is up (the newest)
MAX_MESSAGE_TEXT = 500
SMALL_MESSAGE = 1024 * 1024  # the link's messages but a version (welcome, pool, notices)
BIG_MESSAGE = 96 * 1024 * 1024  # a version: 64 MiB of content, base64, in JSON


class Sender(Protocol):
    async def send(self, message: str) -> None: ...


def _version_of(message: dict[str, Any]) -> int | None:
    version = message.get("version")
    if isinstance(version, int) and not isinstance(version, bool) and version >= 1:
        return version
    return None


def _text(value: Any, limit: int) -> str | None:
    return value if isinstance(value, str) and len(value) <= limit else None


def _b64(value: Any, limit: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) > (limit * 4) // 3 + 4:
        raise UpdateUnavailable(f"The cloud sent a version whose {what} is missing or too long.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError) as exc:
        raise UpdateUnavailable(f"The cloud sent a version whose {what} is not base64.") from exc


def parse_version(message: dict[str, Any], version: int) -> PublishedVersion:
    """The cloud's ``version`` answer to ``get_version(version)``."""
    if message.get("error") is not None:
        raise UpdateUnavailable(
            f"The cloud does not hold version {version} any more ({message.get('error')!s:.40})."
        )
    return PublishedVersion(
        version=version,
        manifest=_b64(message.get("manifest"), MAX_MANIFEST_BYTES, "manifest"),
        signature=_b64(message.get("signature"), MAX_SIGNATURE_BYTES, "signature"),
        content=_b64(message.get("content"), MAX_CONTENT_BYTES, "content"),
    )


class VersionChannel:
    """See the module's docstring."""

    def __init__(self, fetch_timeout_s: float = FETCH_TIMEOUT_S) -> None:
        self._listener: VersionListener | None = None
        self._ws: Sender | None = None
        self._waiting: dict[int, asyncio.Future[PublishedVersion]] = {}
        self._reports: list[VersionResult] = []
        self._flushing: asyncio.Task[None] | None = None
        self._timeout = fetch_timeout_s

    def set_listener(self, listener: VersionListener) -> None:
        self._listener = listener

    # --- the link's side ------------------------------------------------------------------

    def attach(self, ws: Sender) -> None:
        """A control link is up (after its welcome): reports kept meanwhile go now."""
        self._ws = ws
        if self._reports:
            self._start_flush()

    def detach(self) -> None:
        """The control link ended: fetches waiting on it fail."""
        self._ws = None
        waiting, self._waiting = self._waiting, {}
        for future in waiting.values():
            if not future.done():
                future.set_exception(
                    UpdateUnavailable(
                        "The cloud link closed while a published version was being fetched."
                    )
                )

    def handle(self, message: dict[str, Any]) -> bool:
        """Take a ``version_available`` or ``version`` message; False for other types."""
        kind = message.get("type")
        if kind == "version_available":
            version = _version_of(message)
            if version is None:
                log.warning("the cloud sent a version_available without a valid version")
            elif self._listener is not None:
                notice = VersionNotice(
                    version,
                    _text(message.get("digest"), 100),
                    _text(message.get("published_at"), 40),
                )
                self._listener(notice)
            return True
        if kind == "version":
            version = _version_of(message)
            future = self._waiting.pop(version, None) if version is not None else None
            if future is None or future.done():
                log.warning("the cloud sent a version that was not asked for")
                return True
            try:
                future.set_result(parse_version(message, version))  # type: ignore[arg-type]
            except UpdateUnavailable as exc:
                future.set_exception(exc)
            return True
        return False

    # --- the service's side -----------------------------------------------------------------

    async def fetch(self, version: int) -> PublishedVersion:
        ws = self._ws
        if ws is None:
            raise UpdateUnavailable(
                f"Version {version} cannot be fetched: the cloud link is not up."
            )
        future = self._waiting.get(version)
        if future is None:
            future = asyncio.get_running_loop().create_future()
            self._waiting[version] = future
            self._message_limit()  # big messages accepted only while a version is awaited
            future.add_done_callback(lambda _: self._message_limit())
            try:
                await ws.send(json.dumps({"type": "get_version", "version": version}))
            except Exception as exc:
                self._waiting.pop(version, None)
                raise UpdateUnavailable(
                    f"Version {version} cannot be fetched: the cloud link closed."
                ) from exc
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.shield(future)
        except TimeoutError as exc:
            if self._waiting.get(version) is future:
                del self._waiting[version]
            raise UpdateUnavailable(
                f"The cloud did not send version {version} within {self._timeout:.0f} s."
            ) from exc

    def _message_limit(self) -> None:
        """The link's limit on incoming messages: :data:`BIG_MESSAGE` while a fetch waits
        for its ``version``, else :data:`SMALL_MESSAGE` (a cloud cannot make the server
        take in tens of MiB it did not ask for)."""
        protocol = getattr(self._ws, "protocol", None)
        if protocol is not None and hasattr(protocol, "max_message_size"):
            waiting = any(not f.done() for f in self._waiting.values())
            protocol.max_message_size = BIG_MESSAGE if waiting else SMALL_MESSAGE

    def report(self, report: VersionResult) -> None:
        message = report.message
        if message is not None and len(message) > MAX_MESSAGE_TEXT:
            report = VersionResult(
                report.version, report.applied, report.code, message[:MAX_MESSAGE_TEXT]
            )
        self._reports = [*self._reports, report][-MAX_REPORTS:]
        if self._ws is not None:
            self._start_flush()

    async def _flush(self) -> None:
        while self._reports and self._ws is not None:
            report = self._reports[0]
            text = json.dumps(
                {
                    "type": "version_result",
                    "version": report.version,
                    "applied": report.applied,
                    "code": report.code,
                    "message": report.message,
                }
            )
            try:
                await self._ws.send(text)
            except Exception:
                return  # kept for the next link
            if self._reports and self._reports[0] is report:
                self._reports.pop(0)

    def _start_flush(self) -> None:
        """One flush at a time (reports go in order, each once)."""
        if self._flushing is not None and not self._flushing.done():
            return
        self._flushing = asyncio.get_running_loop().create_task(self._flush())

    async def close(self) -> None:
        self.detach()
        task, self._flushing = self._flushing, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
