"""Reading a request body on raw ASGI, bounded."""

from __future__ import annotations

from starlette.types import Receive

from domogate.errors import InvalidInput, PayloadTooLarge


async def read_body(receive: Receive, limit: int) -> bytes:
    """The request's body, at most ``limit`` bytes (``payload_too_large`` beyond, as soon
    as the bytes received pass it)."""
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise InvalidInput("The request ended early.")
        body += message.get("body", b"")
        if len(body) > limit:
            raise PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        if not message.get("more_body", False):
            return bytes(body)
