"""The home server's side of the link's version messages (``cloud/versionchannel.py``):
the link takes in big messages only while a version it asked for is awaited."""

from __future__ import annotations

import asyncio
import base64
import json
from dataclasses import dataclass, field

from domogate.cloud.versionchannel import BIG_MESSAGE, SMALL_MESSAGE, VersionChannel


@dataclass
class Protocol:
    max_message_size: int = SMALL_MESSAGE


@dataclass
class Socket:
    protocol: Protocol = field(default_factory=Protocol)
    sent: list[dict[str, object]] = field(default_factory=list)

    async def send(self, message: str) -> None:
        self.sent.append(json.loads(message))


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def test_big_messages_only_while_a_version_is_awaited() -> None:
    channel = VersionChannel(fetch_timeout_s=5)
    ws = Socket()
    channel.attach(ws)  # type: ignore[arg-type]
    assert ws.protocol.max_message_size == SMALL_MESSAGE
    fetching = asyncio.create_task(channel.fetch(3))
    while not ws.sent:
        await asyncio.sleep(0)
    assert ws.sent == [{"type": "get_version", "version": 3}]
    assert ws.protocol.max_message_size == BIG_MESSAGE
    channel.handle(
        {"type": "version", "version": 3, "manifest": b64(b"m"), "signature": b64(b"s"),
         "content": b64(b"c")}
    )  # fmt: skip
    got = await fetching
    assert (got.version, got.content) == (3, b"c")
    assert ws.protocol.max_message_size == SMALL_MESSAGE
    # a version nobody asked for is dropped, and the limit stays small
    assert channel.handle({"type": "version", "version": 4, "content": b64(b"x" * 10)})
    assert ws.protocol.max_message_size == SMALL_MESSAGE
