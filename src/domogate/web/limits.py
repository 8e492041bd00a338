"""Pure ASGI middleware that refuses before a body is read: bounded bodies, and no body at
all from a caller without a live session on a route that needs one."""

from __future__ import annotations

import json
from collections.abc import Callable

from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domogate.errors import DomogateError, PayloadTooLarge, Unauthenticated


class BodyLimit:
    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope["path"], self.default)
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > limit
                except ValueError:
                    too_big = True
                if too_big:
                    await self._reject(send, limit)
                    return
        received = 0
        rejected = False

        async def limited_receive() -> Message:
            nonlocal received, rejected
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    rejected = True
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, limited_receive, send)
        except _TooLarge:
            await self._reject(send, limit)

    @staticmethod
    async def _reject(send: Send, limit: int) -> None:
        await send_error(
            send, 413, PayloadTooLarge(f"The request body is larger than {limit} bytes.")
        )


class _TooLarge(StarletteHTTPException):
    """Raised from ``receive``; an HTTPException so that body parsers let it through."""

    def __init__(self) -> None:
        super().__init__(413, "The request body is too large.")


class SessionGate:
    """Authorise before the body is read: a request with a body (POST, PUT, PATCH,
    DELETE) to a route that needs a session is refused with 401 unless it carries a live
    session token. The route checks the caller fully again (revocation, expiry, rights);
    this gate only makes sure that a stranger's body is never read nor parsed."""

    def __init__(
        self,
        app: ASGIApp,
        is_live_token: Callable[[str], bool],
        public: frozenset[str],
        prefix: str = "/api/",
    ) -> None:
        self.app = app
        self.is_live_token = is_live_token
        self.public = public
        self.prefix = prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in _WITH_BODY
            or not scope["path"].startswith(self.prefix)
            or scope["path"] in self.public
            or self._token_is_live(scope)
        ):
            await self.app(scope, receive, send)
            return
        await send_error(send, 401, Unauthenticated("Send Authorization: Bearer SESSION_TOKEN."))

    def _token_is_live(self, scope: Scope) -> bool:
        for name, value in scope.get("headers", []):
            if name == b"authorization":
                scheme, _, token = value.decode("latin-1").partition(" ")
                return (
                    scheme.lower() == "bearer"
                    and bool(token.strip())
                    and (self.is_live_token(token.strip()))
                )
        return False


_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})


async def send_error(send: Send, status: int, error: DomogateError) -> None:
    """A whole JSON error answer, straight on ASGI (the body was never read)."""
    body = json.dumps({"error": error.to_dict()}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
