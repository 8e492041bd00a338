"""Maintenance routes under ``/api/maintenance/`` (service password; see docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from domogate.core.times import iso
from domogate.errors import Unauthenticated
from domogate.services.container import Services
from domogate.services.maintenance import Overview, ProjectFacts, ServerFacts, UserRow
from domogate.web.api import ERROR_RESPONSES, context_of
from domogate.web.live.protocol import update_json
from domogate.web.views import audit_json, cloud_json


def server_json(s: ServerFacts) -> dict[str, Any]:
    return {
        "id": s.id,
        "fingerprint": s.fingerprint,
        "software_version": s.software_version,
        "address": s.address,
        "https": s.https,
    }


def project_json(p: ProjectFacts) -> dict[str, Any]:
    return {
        "name": p.name,
        "version": p.version,
        "deployed_at": iso(p.deployed_at),
        "groups": list(p.groups),
        "use_otp_authentication": p.use_otp_authentication,
        "automatic_authentication": p.automatic_authentication,
        "connection_policy": p.connection_policy,
        "cloud_enabled": p.cloud_enabled,
    }


def user_row_json(u: UserRow) -> dict[str, Any]:
    return {
        "id": u.id,
        "name": u.name,
        "named": u.named,
        "group": u.group,
        "admin": u.admin,
        "origin": u.origin.value,
        "revoked": u.revoked,
        "devices": u.devices,
    }


def overview_json(o: Overview) -> dict[str, Any]:
    names: dict[str, str | None] = {u.id: u.name for u in o.users}
    return {
        "server": server_json(o.server),
        "project": None if o.project is None else project_json(o.project),
        "admins": list(o.admins),
        "users": [user_row_json(u) for u in o.users],
        "audit": [audit_json(e, names) for e in o.audit],
    }


class Unlock(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(max_length=1024)


class AdminFlag(BaseModel):
    model_config = ConfigDict(extra="forbid")
    admin: bool


def maintenance_token(request: Request) -> str:
    """The maintenance session token (``Authorization: Bearer TOKEN``)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("Send Authorization: Bearer MAINTENANCE_TOKEN.")
    return token.strip()


TokenDep = Annotated[str, Depends(maintenance_token)]


def build_maintenance_router(services: Services) -> APIRouter:
    r = APIRouter(prefix="/api/maintenance", tags=["maintenance"], responses=ERROR_RESPONSES)
    service = services.maintenance

    @r.post("/session")
    async def unlock(body: Unlock, request: Request) -> dict[str, Any]:
        session = await service.unlock(context_of(request), body.password)
        return {"token": session.token, "expires_at": iso(session.expires_at)}

    @r.delete("/session", status_code=204)
    async def lock(token: TokenDep) -> Response:
        service.lock(token)
        return Response(status_code=204)

    @r.get("")
    async def overview(token: TokenDep) -> dict[str, Any]:
        data = overview_json(await service.overview(token))
        data["cloud"] = cloud_json(services.cloud.state)
        data["update"] = update_json(services.updates.status)
        return data

    @r.post("/update")
    async def apply_update(request: Request, token: TokenDep) -> dict[str, Any]:
        """Fetch, check and apply the published version waiting (404 when none)."""
        service.check(token)
        result = await services.updates.apply_available(context_of(request))
        return {"version": result.version, "name": result.name}

    @r.put("/users/{user_id}/admin")
    async def set_admin(
        user_id: str, body: AdminFlag, request: Request, token: TokenDep
    ) -> dict[str, Any]:
        user = await service.set_admin(context_of(request), token, user_id, body.admin)
        return {"user": user_row_json(user)}

    return r
