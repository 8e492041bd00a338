"""The version messages of a control link, the cloud's side (``docs/cloud-publish.md``):

- cloud → server ``{"type": "version_available", "version", "digest", "published_at"}``
  right after ``welcome`` (the latest version held, if any) and whenever a version of the
  link's installation is stored;
- server → cloud ``{"type": "get_version", "version": N}``, answered ``{"type": "version",
  "version", "manifest", "signature", "content"}`` (base64url) or ``{"type": "version",
  "version": N, "error": "not_found"}``; only ever the link's own installation's versions
  (the name is the link's, proved by its signature, never the message's);
- server → cloud ``{"type": "version_result", "version", "applied", "code", "message"}``:
  the version's report (checked, its text cleaned and bounded), audited.

A ``version`` message is one WebSocket text frame of up to ~86 MiB: it is built in a
thread (base64 and JSON of 64 MiB take a while) and at most :data:`MAX_SENDING` are in
memory at once; the send itself hands the frame to the transport, so other links keep
being served while it drains.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
from typing import Any

from domogate.core.cloudversions import (
    StoredVersion,
    VersionInfo,
    parse_get_version,
    parse_version_result,
)
from domogate.core.devicekeys import b64url_encode
from domogate.errors import DomogateError
from domogate.services.cloud.versions import CloudVersions
from domogate.web.live.transport import Disconnected, RawSocket

log = logging.getLogger("domogate.cloud.links")

MAX_SENDING = 2  # ``version`` messages being built or sent at once, over all links


def available_message(info: VersionInfo) -> str:
    return json.dumps(
        {
            "type": "version_available",
            "version": info.version,
            "digest": info.digest,
            "published_at": info.published_at,
        }
    )


def b64url_chunked(raw: bytes, chunk: int = 3 * 256 * 1024) -> str:
    """``b64url_encode(raw)`` in pieces: base64 and ``decode`` hold the GIL for their whole
    input (about 95 ms for 20 MiB), so a thread doing it in one call stalls the event
    loop as long; pieces of 768 KiB let the loop in between."""
    parts = [
        base64.urlsafe_b64encode(raw[i : i + chunk]).decode("ascii")
        for i in range(0, len(raw), chunk)
    ]
    return "".join(parts).rstrip("=")


def version_message(stored: StoredVersion) -> str:
    """The ``version`` message; built without ``json.dumps`` of the content (base64url
    needs no escaping, and dumping 27 MiB of text holds the GIL for ~85 ms)."""
    head = json.dumps(
        {
            "type": "version",
            "version": stored.info.version,
            "manifest": b64url_encode(stored.manifest),
            "signature": b64url_encode(stored.signature),
        }
    )
    return head[:-1] + ', "content": "' + b64url_chunked(stored.content) + '"}'


class LinkVersions:
    """Answers a link's version messages; tells links of new versions."""

    def __init__(self, versions: CloudVersions) -> None:
        self.versions = versions
        self._sending = asyncio.Semaphore(MAX_SENDING)

    async def announce_latest(self, name: str, socket: RawSocket) -> None:
        """After ``welcome``: the latest version held for ``name``, if any."""
        latest = await self.versions.latest(name)
        if latest is not None:
            await socket.send_text(available_message(latest))

    async def announce(self, info: VersionInfo, socket: RawSocket) -> None:
        with contextlib.suppress(Disconnected):
            await socket.send_text(available_message(info))

    async def handle(self, name: str, socket: RawSocket, data: Any, source: str | None) -> bool:
        """Handle one message of ``name``'s link; False when it is not a version message."""
        kind = data.get("type") if isinstance(data, dict) else None
        try:
            if kind == "get_version":
                await self._send_version(name, socket, parse_get_version(data))
            elif kind == "version_result":
                await self.versions.report(name, parse_version_result(data), source=source)
            else:
                return False
        except DomogateError as exc:  # a malformed message: ignored, the link stays up
            log.warning("control link %s: %s refused (%s)", name, kind, exc.code)
        return True

    async def _send_version(self, name: str, socket: RawSocket, version: int) -> None:
        async with self._sending:
            stored = await self.versions.fetch(name, version)
            if stored is None:
                text = json.dumps({"type": "version", "version": version, "error": "not_found"})
            else:
                text = await asyncio.to_thread(version_message, stored)
                del stored
            await socket.send_text(text)
