"""REST routes under ``/api/`` (contract: docs/api.md)."""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from domogate.core import otp as otp_rules
from domogate.core.accounts import ConnectionPath
from domogate.core.export import export_for_group
from domogate.core.times import iso
from domogate.errors import InvalidInput, NotFound, Unauthenticated
from domogate.services.auth import DeviceProof
from domogate.services.container import Services
from domogate.services.context import Caller, RequestContext
from domogate.settings import ServerSettings
from domogate.web.paths import path_of_scope
from domogate.web.views import (
    audit_json,
    authenticated_json,
    bus_json,
    client_json,
    clients_json,
    deploy_json,
    issued_json,
    qr_image,
)


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


_M = TypeVar("_M", bound=BaseModel)

_MAX_VALID_FOR_S = int(ServerSettings.otp_max_validity.total_seconds())
"""The default ``otp_max_validity`` (24 h); the service checks the server's own."""


class DeviceIn(_Body):
    name: str = Field(max_length=200)
    public_key: str = Field(max_length=512)


class DeviceProofIn(_Body):
    """A challenge (``POST /api/auth/challenge``) signed by an enrolled device's key."""

    device_id: str = Field(max_length=64)
    challenge: str = Field(max_length=128)
    signature: str = Field(max_length=256)


class PasswordLogin(_Body):
    username: str = Field(max_length=200)
    password: str = Field(max_length=1024)
    device: DeviceIn
    proof: DeviceProofIn | None = Field(
        default=None,
        description="Optional: this enrolled device proves its key, so that others' failed "
        "guesses on the account never refuse it.",
    )


class OtpLogin(_Body):
    otp: str = Field(max_length=otp_rules.MAX_TYPED)
    name: str | None = Field(default=None, max_length=200)
    device: DeviceIn


class ChallengeIn(_Body):
    device_id: str = Field(max_length=64)


class DeviceSignIn(_Body):
    device_id: str = Field(max_length=64)
    challenge: str = Field(max_length=128)
    signature: str = Field(max_length=256)


class AddClient(_Body):
    name: str | None = Field(default=None, max_length=200)
    group: str | None = Field(default=None, max_length=64)
    admin: bool = False
    valid_for_s: int | None = Field(
        default=None,
        ge=otp_rules.MIN_VALIDITY_S,
        le=_MAX_VALID_FOR_S,
        description="Seconds the one-time password stays valid (default 2 hours).",
    )
    account_expires_at: datetime | None = Field(
        default=None,
        ge=datetime(1970, 1, 1, tzinfo=UTC),
        lt=datetime(3000, 1, 1, tzinfo=UTC),
        description="When the account ends (guest access): a future time with a time zone, "
        "before 3000-01-01T00:00:00Z and at most 100 years ahead.",
    )
    paths: list[ConnectionPath] | None = Field(default=None, max_length=2)


class IssueOtp(_Body):
    valid_for_s: int | None = Field(
        default=None,
        ge=otp_rules.MIN_VALIDITY_S,
        le=_MAX_VALID_FOR_S,
        description="Seconds the one-time password stays valid (default 2 hours).",
    )


class CommandIn(_Body):
    attribute: str = Field(max_length=64)
    value: Any = Field(description="JSON value; checked against the datapoint type.")


class DeployIn(_Body):
    """The deploy body: the project alone. The credentials travel in the ``Authorization``
    header and are checked before this body is read."""

    project: dict[str, Any]
    publisher_key: str | None = Field(
        default=None,
        max_length=128,
        description="The integrator's Ed25519 public key (base64url of its 32 bytes): "
        "pinned with this deploy as the key every version published through the cloud must "
        "be signed by. Absent: the pin stays as it is.",
    )


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine code, e.g. otp_expired, rate_limited.")
    message: str
    details: dict[str, Any] | None = None


class ErrorBody(BaseModel):
    """Every error answer: ``{"error": {"code", "message", "details"}}``."""

    error: ErrorDetail


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody, "description": description}
    for status, description in (
        (401, "Refused credentials (unauthenticated, invalid_credentials, otp_invalid, …)"),
        (403, "Not allowed (forbidden, revoked, otp_disabled, …)"),
        (404, "not_found"),
        (409, "conflict"),
        (413, "payload_too_large"),
        (422, "invalid_input, project_invalid"),
        (429, "rate_limited, with a Retry-After header"),
    )
}


def context_of(request: Request) -> RequestContext:
    return RequestContext(
        source=request.client.host if request.client else "unknown",
        path=path_of_scope(request.scope),
    )


def deploy_credentials(header: str | None) -> tuple[str | None, str | None]:
    """``(setup_code, password)`` from ``Authorization: Basic base64(user:secret)`` where
    user is ``setup-code`` or ``service``; ``(None, None)`` when absent or malformed (the
    refusal is then the same as for a wrong secret)."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    user, sep, secret = decoded.partition(":")
    if not sep:
        return None, None
    if user == "setup-code":
        return secret, None
    if user == "service":
        return None, secret
    return None, None


async def read_model(request: Request, model: type[_M]) -> _M:
    """The JSON body as ``model``, read only now (after authorisation) and parsed off the
    event loop: a large project does not hold up other clients."""
    raw = await request.body()
    try:
        data = await asyncio.to_thread(json.loads, raw)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput("The request body is not valid JSON.") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**err, "loc": ("body", *err.get("loc", ()))} for err in exc.errors()]
        ) from exc


def base_url_of(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def local_url_of(request: Request, services: Services) -> str:
    """The server's local URL: the one asked on, when asked locally; else the address
    the server advertises (``services/addresses.py``: not 0.0.0.0)."""
    if path_of_scope(request.scope) is ConnectionPath.LOCAL:
        return base_url_of(request)
    return services.local_url()


async def current_caller(request: Request) -> Caller:
    """The authenticated caller of a request (``Authorization: Bearer TOKEN``)."""
    services: Services = request.app.state.services
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthenticated("Send Authorization: Bearer SESSION_TOKEN.")
    return await services.auth.authenticate(token.strip(), context_of(request))


CallerDep = Annotated[Caller, Depends(current_caller)]


def build_router(services: Services) -> APIRouter:
    r = APIRouter(prefix="/api", responses=ERROR_RESPONSES)

    # --- public ---------------------------------------------------------------------
    @r.get("/info", tags=["server"])
    async def info(request: Request) -> dict[str, Any]:
        system = services.project.system
        methods = ["password"]
        if system.use_otp_authentication:
            methods.append("otp")
        if system.automatic_authentication:
            methods.append("device")
        project = services.project.project
        return {
            "server_id": services.server_id,
            "name": project.name if project else None,
            "version": services.project.version,
            "fingerprint": services.fingerprint,
            "auth_methods": methods,
            "automatic_authentication": system.automatic_authentication,
            "automatic_connection": system.automatic_connection,
            "connection_policy": system.cloud.connection_policy.value,
            "paths": {"local": local_url_of(request, services), "cloud": services.cloud.url},
            "cloud_relay": services.cloud.relay,
            "api": 1,
        }

    # --- authentication -------------------------------------------------------------
    @r.post("/auth/password", tags=["auth"])
    async def login_password(body: PasswordLogin, request: Request) -> dict[str, Any]:
        proof = body.proof
        auth = await services.auth.login_password(
            context_of(request),
            body.username,
            body.password,
            body.device.name,
            body.device.public_key,
            proof=DeviceProof(proof.device_id, proof.challenge, proof.signature) if proof else None,
        )
        return authenticated_json(services.server_id, auth)

    @r.post("/auth/otp", tags=["auth"])
    async def login_otp(body: OtpLogin, request: Request) -> dict[str, Any]:
        auth = await services.auth.redeem_otp(
            context_of(request), body.otp, body.name, body.device.name, body.device.public_key
        )
        return authenticated_json(services.server_id, auth)

    @r.post("/auth/challenge", tags=["auth"])
    async def challenge(body: ChallengeIn, request: Request) -> dict[str, Any]:
        issued = await services.auth.challenge(context_of(request), body.device_id)
        return {"challenge": issued.challenge, "expires_at": iso(issued.expires_at)}

    @r.post("/auth/device", tags=["auth"])
    async def sign_in_device(body: DeviceSignIn, request: Request) -> dict[str, Any]:
        """Automatic authentication; with ``Authorization: Bearer`` of a session of the
        same device it renews that session even where automatic authentication is off."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        auth = await services.auth.sign_in_device(
            context_of(request),
            body.device_id,
            body.challenge,
            body.signature,
            current_token=token.strip() if scheme.lower() == "bearer" else None,
        )
        return authenticated_json(services.server_id, auth)

    @r.post("/auth/logout", status_code=204, tags=["auth"])
    async def logout(request: Request, who: CallerDep) -> Response:
        token = request.headers["authorization"].partition(" ")[2].strip()
        services.auth.logout(token)
        await services.audit.record("logout", "ok", who.context, actor=who.user)
        return Response(status_code=204)

    @r.get("/me", tags=["auth"])
    async def me(who: CallerDep) -> dict[str, Any]:
        auth = await services.auth.me(who)
        return authenticated_json(services.server_id, auth, with_token=False)

    # --- project --------------------------------------------------------------------
    @r.get("/project", tags=["project"])
    async def project(who: CallerDep) -> dict[str, Any]:
        current = services.project.current
        if current is None:
            raise NotFound("No project is deployed yet.")
        return export_for_group(current.project, who.user.group, current.version)

    # --- objects ----------------------------------------------------------------------
    @r.get("/states", tags=["objects"])
    async def states(who: CallerDep) -> dict[str, Any]:
        """Current states of the objects the caller's group may see."""
        return {"states": services.objects.states_for(who.user.group)}

    @r.post("/objects/{object_id}/command", tags=["objects"])
    async def command(object_id: str, body: CommandIn, who: CallerDep) -> dict[str, Any]:
        """Operate an object: the telegram is on the bus when this answers."""
        write = await services.objects.command(who, object_id, body.attribute, body.value)
        return {
            "ok": True,
            "object": object_id,
            "attribute": write.attribute,
            "value": write.value,
            "state": services.objects.state(object_id),
        }

    @r.get("/bus", tags=["objects"])
    async def bus(who: CallerDep) -> dict[str, Any]:
        """The bus connection (admins)."""
        who.require_admin("see the bus connection")
        return bus_json(services.objects.bus_status)

    @r.post(
        "/deploy",
        tags=["project"],
        openapi_extra={
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": DeployIn.model_json_schema()}},
            }
        },
    )
    async def deploy(
        request: Request,
        authorization: Annotated[
            str | None,
            Header(
                description="Basic credentials: `service:PASSWORD` (the service password) "
                "or `setup-code:CODE` (first deploy).",
                max_length=4096,
            ),
        ] = None,
    ) -> dict[str, Any]:
        """Deploy a project. Authorised (and throttled) from the header before the body is
        read: nothing of the body can change how a refused authorisation is answered."""
        ctx = context_of(request)
        setup_code, password = deploy_credentials(authorization)
        grant = await services.deploy.authorise(ctx, setup_code=setup_code, password=password)
        body = await read_model(request, DeployIn)
        result = await services.deploy.apply(
            ctx, grant, body.project, publisher_key=body.publisher_key
        )
        # The house's cloud name: where `domogate cloud publish` sends its versions.
        return {**deploy_json(result), "installation": services.cloud.name}

    # --- clients (admins) -------------------------------------------------------------
    @r.get("/clients", tags=["clients"])
    async def list_clients(who: CallerDep) -> dict[str, Any]:
        clients = await services.clients.list_clients(who)
        return {"clients": clients_json(clients), "groups": services.project.group_names()}

    @r.post("/clients", tags=["clients"])
    async def add_client(body: AddClient, request: Request, who: CallerDep) -> dict[str, Any]:
        issued = await services.clients.add_client(
            who,
            base_url=base_url_of(request),
            name=body.name,
            group=body.group,
            admin=body.admin,
            valid_for=timedelta(seconds=body.valid_for_s) if body.valid_for_s else None,
            account_expires_at=_aware(body.account_expires_at),
            paths=[p.value for p in body.paths] if body.paths else None,
        )
        return issued_json(issued)

    @r.post("/clients/{user_id}/otp", tags=["clients"])
    async def issue_otp(
        user_id: str, request: Request, who: CallerDep, body: IssueOtp | None = None
    ) -> dict[str, Any]:
        valid = body.valid_for_s if body else None
        issued = await services.clients.issue_otp(
            who,
            user_id,
            base_url=base_url_of(request),
            valid_for=timedelta(seconds=valid) if valid else None,
        )
        return issued_json(issued)

    @r.get("/clients/{user_id}/qr.{fmt}", tags=["clients"])
    async def qr(user_id: str, fmt: str, request: Request, who: CallerDep) -> Response:
        if fmt not in ("png", "svg"):
            raise NotFound("QR codes come as qr.png or qr.svg.")
        link = await services.clients.join_link_of_pending(who, user_id, base_url_of(request))
        data, media = qr_image(link, fmt)
        return Response(data, media_type=media, headers={"Cache-Control": "no-store"})

    @r.delete("/clients/{user_id}", tags=["clients"])
    async def revoke_user(user_id: str, who: CallerDep) -> dict[str, Any]:
        return {"client": client_json(await services.clients.revoke_user(who, user_id))}

    @r.delete("/clients/{user_id}/devices/{device_id}", tags=["clients"])
    async def revoke_device(user_id: str, device_id: str, who: CallerDep) -> dict[str, Any]:
        client = await services.clients.revoke_device(who, user_id, device_id)
        return {"client": client_json(client)}

    # --- audit ------------------------------------------------------------------------
    async def audit_rows(who: Caller, limit: int, user_id: str | None) -> list[dict[str, Any]]:
        """Audit events, newest first, with the current names of their targets."""
        who.require_admin("read the audit log")
        events = await services.audit.list(limit=limit, user_id=user_id)
        names = await services.audit.target_names()
        return [audit_json(e, names) for e in events]

    @r.get("/audit", tags=["audit"])
    async def audit(
        who: CallerDep,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 200,
        user_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> dict[str, Any]:
        return {"events": await audit_rows(who, limit, user_id)}

    @r.get("/audit.jsonl", tags=["audit"], response_class=PlainTextResponse)
    async def audit_jsonl(
        who: CallerDep,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
        user_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> PlainTextResponse:
        rows = await audit_rows(who, limit, user_id)
        return PlainTextResponse(
            "".join(json.dumps(row) + "\n" for row in reversed(rows)),
            media_type="application/x-ndjson",
        )

    return r


def _aware(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is None:
        raise InvalidInput(
            "account_expires_at needs a time zone (e.g. Z).", field="account_expires_at"
        )
    return dt.astimezone(UTC)
