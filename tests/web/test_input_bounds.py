"""Numbers, dates and deep JSON out of range are input errors (422), never a 500; the
bounds are in the OpenAPI document."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from domogate.errors import InvalidInput
from domogate.services.clients import MAX_ACCOUNT_VALIDITY
from tests.support.deploy_auth import deploy_headers
from tests.support.live import Live
from tests.support.services_env import SERVICE_PASSWORD, Env, make_env, project_data


def assert_invalid(r: Any, field: str) -> dict[str, Any]:
    assert r.status_code == 422, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["code"] == "invalid_input"
    assert field in error["message"], error
    return error


@pytest.fixture
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.WARNING)
    yield caplog
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records]


@pytest.mark.parametrize("value", [1e30, 10**30, 86_401, 0, -1, 1.5, "1e30"])
async def test_valid_for_s_out_of_range_is_refused(
    live: Live, no_tracebacks: Any, value: Any
) -> None:
    admin = live.bearer(await live.login())
    r = await live.http.post("/api/clients", json={"valid_for_s": value}, headers=admin)
    assert_invalid(r, "valid_for_s")
    users = (await live.http.get("/api/clients", headers=admin)).json()["clients"]
    target = next(u for u in users if u["name"] == "bob")["id"]
    r = await live.http.post(
        f"/api/clients/{target}/otp", json={"valid_for_s": value}, headers=admin
    )
    assert_invalid(r, "valid_for_s")


async def test_valid_for_s_at_the_bounds_is_accepted(live: Live) -> None:
    admin = live.bearer(await live.login())
    for value in (1, 86_400):
        r = await live.http.post("/api/clients", json={"valid_for_s": value}, headers=admin)
        assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    "when",
    [
        "9999-12-31T23:59:59-05:00",  # past year 9999 in UTC: astimezone overflowed
        "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
        "9999-12-31T23:59:59Z",
        "2999-12-31T23:00:00-05:00",
        "1960-01-01T00:00:00Z",
        "99999-01-01T00:00:00Z",
    ],
)
async def test_account_expires_at_far_away_is_refused(
    live: Live, no_tracebacks: Any, when: str
) -> None:
    admin = live.bearer(await live.login())
    r = await live.http.post("/api/clients", json={"account_expires_at": when}, headers=admin)
    assert_invalid(r, "account_expires_at")


async def test_account_expires_at_more_than_100_years_ahead_is_refused(live: Live) -> None:
    admin = live.bearer(await live.login())
    now = live.env.clock.now()
    far = (now + MAX_ACCOUNT_VALIDITY + timedelta(days=1)).isoformat()
    r = await live.http.post("/api/clients", json={"account_expires_at": far}, headers=admin)
    error = assert_invalid(r, "at most 100 years ahead")
    assert error["details"]["field"] == "account_expires_at"
    near = (now + timedelta(days=30)).isoformat()
    r = await live.http.post("/api/clients", json={"account_expires_at": near}, headers=admin)
    assert r.status_code == 200, r.text


async def test_the_services_refuse_out_of_range_validities(tmp_path: Path) -> None:
    env = await make_env(tmp_path)
    try:
        await _service_refusals(env)
    finally:
        await env.services.close()


async def _service_refusals(env: Env) -> None:
    admin = await env.admin()
    for valid_for in (timedelta(0), timedelta(seconds=-5), timedelta(hours=24, seconds=1)):
        with pytest.raises(InvalidInput) as info:
            await env.clients.add_client(admin, base_url="http://x", valid_for=valid_for)
        assert info.value.details["field"] == "valid_for_s"
    with pytest.raises(InvalidInput, match=r"at most 24 hours \(86400 seconds\)"):
        await env.clients.add_client(admin, base_url="http://x", valid_for=timedelta(days=2))
    far = env.clock.now() + MAX_ACCOUNT_VALIDITY + timedelta(seconds=1)
    with pytest.raises(InvalidInput, match="at most 100 years ahead"):
        await env.clients.add_client(admin, base_url="http://x", account_expires_at=far)


async def test_query_bounds(live: Live, no_tracebacks: Any) -> None:
    admin = live.bearer(await live.login())
    for path, value in (("/api/audit", 0), ("/api/audit", 10_001), ("/api/audit", 10**30)):
        r = await live.http.get(path, params={"limit": value}, headers=admin)
        assert_invalid(r, "limit")
    r = await live.http.get("/api/audit.jsonl", params={"limit": 100_001}, headers=admin)
    assert_invalid(r, "limit")


async def test_the_bounds_are_in_the_openapi_document(live: Live) -> None:
    schemas = (await live.http.get("/api/openapi.json")).json()["components"]["schemas"]
    for name in ("AddClient", "IssueOtp"):
        valid_for = schemas[name]["properties"]["valid_for_s"]["anyOf"][0]
        assert valid_for == {"type": "integer", "minimum": 1, "maximum": 86_400}
    expires = schemas["AddClient"]["properties"]["account_expires_at"]
    assert "before 3000-01-01T00:00:00Z" in expires["description"]


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [100, 900, 5_000, 50_000])
@pytest.mark.parametrize("where", ["top", "name", "objects", "extra"])
async def test_deep_json_on_deploy_is_a_clean_error(
    live: Live, no_tracebacks: Any, depth: int, where: str
) -> None:
    data = project_data()
    template = {
        "top": '{"project": %s}',
        "name": '{"project": {"format": 1, "name": %s}}',
        "objects": '{"project": {"format": 1, "name": "x", "objects": %s}}',
        "extra": '{"project": {"format": 1, "name": "x", "deep": %s}}',
    }[where]
    body = template % nested(depth)
    r = await live.http.post(
        "/api/deploy",
        content=body.encode(),
        headers={"Content-Type": "application/json", **deploy_headers(password=SERVICE_PASSWORD)},
    )
    assert r.status_code == 422, r.text[:500]
    assert r.json()["error"]["code"] in ("invalid_input", "project_invalid")
    assert len(r.content) < 64 * 1024  # the error does not echo the whole structure
    info = (await live.http.get("/api/info")).json()
    assert info["version"] == 1
    assert json.dumps(data)  # the fixture's project is untouched


@pytest.mark.parametrize("depth", [100, 900, 50_000])
async def test_deep_json_in_a_command_is_a_clean_error(
    live: Live, no_tracebacks: Any, depth: int
) -> None:
    admin = live.bearer(await live.login())
    body = '{"attribute": "on", "value": ' + nested(depth) + "}"
    r = await live.http.post(
        "/api/objects/hall/command",
        content=body.encode(),
        headers={"Content-Type": "application/json", **admin},
    )
    assert r.status_code in (413, 422), r.text[:500]


@pytest.mark.parametrize(
    ("object_id", "attribute"),
    [("hall", "on"), ("kitchen", "brightness"), ("bedroom", "target"), ("bedroom", "mode")],
)
@pytest.mark.parametrize(
    "value", [1e308, -1e308, 10**400, 2**64, -(2**63), 0.5, "1e999", [1], {"a": 1}]
)
async def test_extreme_command_values_are_input_errors(
    live: Live, no_tracebacks: Any, object_id: str, attribute: str, value: Any
) -> None:
    admin = live.bearer(await live.login())
    r = await live.http.post(
        f"/api/objects/{object_id}/command",
        json={"attribute": attribute, "value": value},
        headers=admin,
    )
    assert r.status_code < 500, r.text
    if r.status_code != 200:
        assert r.status_code == 422, r.text
