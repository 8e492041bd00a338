"""The one place where errors become HTTP answers and WebSocket close codes.

The numbers themselves live on the error classes (``domogate.errors``); this module reads
them and installs the exception handlers.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from types import MappingProxyType

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domogate import errors as e

log = logging.getLogger(__name__)

HTTP_STATUS: Mapping[str, int] = MappingProxyType(
    {code: cls.http_status for code, cls in e.ERRORS_BY_CODE.items() if cls.http_status is not None}
)
"""The HTTP status of every registered code sent over HTTP (from the registry)."""

WS_CLOSE: Mapping[str, int] = MappingProxyType(
    {code: cls.ws_close for code, cls in e.ERRORS_BY_CODE.items()}
)
"""The WebSocket close code of every registered code (from the registry)."""


def status_for(error: e.DomogateError) -> int:
    """The HTTP status of ``error``: its class's (inherited), 500 for one never sent over HTTP."""
    status = type(error).http_status
    return 500 if status is None else status


def error_response(error: e.DomogateError) -> JSONResponse:
    headers = {}
    if isinstance(error, e.RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    return JSONResponse({"error": error.to_dict()}, status_code=status_for(error), headers=headers)


def _field_of(loc: tuple[object, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path")]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(e.DomogateError)
    async def _domogate(_: Request, exc: e.DomogateError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        if any(err.get("type") == "json_invalid" for err in exc.errors()):
            return error_response(e.InvalidInput("The request body is not valid JSON."))
        problems = [
            {"field": _field_of(tuple(err.get("loc", ()))), "message": str(err.get("msg", ""))}
            for err in exc.errors()
        ]
        first = problems[0] if problems else {"field": "body", "message": "invalid"}
        message = f"{first['field']}: {first['message']}"
        return error_response(e.InvalidInput(message, problems=problems))

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", exc_info=exc)
        err = e.DomogateError("Internal error; the server log has the details.")
        return JSONResponse({"error": err.to_dict()}, status_code=500)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            err: e.DomogateError = e.NotFound()
        elif exc.status_code == 413:
            err = e.PayloadTooLarge()
        elif exc.status_code == 405:
            err = e.MethodNotAllowed()
        elif exc.status_code == 400:  # e.g. a body the JSON parser gave up on
            err = e.InvalidInput("The request body could not be read as JSON.")
        else:
            err = e.DomogateError(str(exc.detail))
        return JSONResponse({"error": err.to_dict()}, status_code=exc.status_code)
