"""services/deploy.py: deploying a project (setup code, service password, versions)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import pytest

from domogate.errors import (
    Conflict,
    SetupCodeInvalid,
)
from domogate.services.context import RequestContext
from tests.support.services_env import SERVICE_PASSWORD, Env, make_env, project_data

# The setup code opens the first deploy only.


async def test_the_setup_code_is_discarded_by_the_first_deploy(tmp_path: Path) -> None:
    """Even when that project sets no service password, the setup code opens one deploy."""
    env = await make_env(tmp_path, deploy=False)
    try:
        code = env.setup.code
        assert code is not None
        ctx = RequestContext("integrator")
        await env.services.deploy.deploy(ctx, project_data(password=None), setup_code=code)
        assert env.setup.discarded == 1
        with pytest.raises(SetupCodeInvalid):
            await env.services.deploy.deploy(ctx, project_data(password=None), setup_code=code)
    finally:
        await env.services.close()


# Ways in found by review, each tried and refused: clients against project users,
# concurrent deploys.


async def test_deploy_never_merges_a_client_into_a_project_user(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1", group="guests")
    await env.redeem(issued.otp, name="carol")
    data = project_data()
    data["users"].append({"name": "Carol", "group": "family", "admin": True})
    with pytest.raises(Conflict, match="Carol"):
        await env.services.deploy.deploy(RequestContext("i"), data, password=SERVICE_PASSWORD)
    carol = await env.store.find_user_by_name("carol")
    assert carol is not None and not carol.admin and carol.group == "guests"
    assert env.services.project.version == 1


async def test_concurrent_deploys_get_distinct_versions(tmp_path: Path) -> None:
    env = await make_env(tmp_path)
    try:
        a = project_data()
        a["name"] = "A"
        b = project_data()
        b["name"] = "B"
        ra, rb = await asyncio.gather(
            env.services.deploy.deploy(RequestContext("x"), a, password=SERVICE_PASSWORD),
            env.services.deploy.deploy(RequestContext("y"), b, password=SERVICE_PASSWORD),
        )
        assert sorted([ra.version, rb.version]) == [2, 3]
        current = await env.store.current_project()
        assert current is not None and current.version == 3
        last = ra if ra.version == 3 else rb
        assert current.data["name"] == last.name
    finally:
        with contextlib.suppress(Exception):
            await env.services.close()
