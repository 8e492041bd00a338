"""Maintenance routes under ``/api/maintenance/`` (service password; see docs/api.md)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from domogate.core.times import iso
from domogate.errors import Unauthenticated
from domogate.services.container import Services
from domogate.web.api import ERROR_RESPONSES, context_of
from domogate.web.views import audit_json, cloud_json


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
        data = await service.overview(token)
        names = {u["id"]: u["name"] for u in data["users"]}
        data["audit"] = [audit_json(e, names) for e in data["audit"]]
        data["cloud"] = cloud_json(services.cloud.state)
        return data

    @r.put("/users/{user_id}/admin")
    async def set_admin(
        user_id: str, body: AdminFlag, request: Request, token: TokenDep
    ) -> dict[str, Any]:
        user = await service.set_admin(context_of(request), token, user_id, body.admin)
        return {"user": user}

    return r
