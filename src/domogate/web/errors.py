"""The one place where error codes become HTTP statuses and WebSocket close codes."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domogate import errors as e

log = logging.getLogger(__name__)

HTTP_STATUS: dict[type[e.DomogateError], int] = {
    e.InvalidInput: 422,
    e.ProjectInvalid: 422,
    e.ConfigKeyInvalid: 422,
    e.PayloadTooLarge: 413,
    e.NotFound: 404,
    e.Conflict: 409,
    e.ValueInvalid: 422,
    e.ImportFailed: 422,
    e.BusUnavailable: 503,
    e.AuthError: 401,
    e.Revoked: 403,
    e.AccountExpired: 403,
    e.OtpDisabled: 403,
    e.AutomaticAuthenticationDisabled: 403,
    e.PathNotAllowed: 403,
    e.Forbidden: 403,
    e.RateLimited: 429,
    e.TooManyConnections: 503,
}

WS_CLOSE: dict[str, int] = {
    "invalid_input": 4400,
    "unauthenticated": 4401,
    "revoked": 4403,
    "account_expired": 4403,
    "forbidden": 4403,
    "auth_timeout": 4408,
    "too_slow": 4429,
    "too_many_connections": 1013,  # RFC 6455 "Try Again Later"
}


def status_for(error: e.DomogateError) -> int:
    for cls in type(error).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500


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
            err = e.InvalidInput("Method not allowed on this route.")
        elif exc.status_code == 400:  # e.g. a body the JSON parser gave up on
            err = e.InvalidInput("The request body could not be read as JSON.")
        else:
            err = e.DomogateError(str(exc.detail))
        return JSONResponse({"error": err.to_dict()}, status_code=exc.status_code)
