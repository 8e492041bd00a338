"""End to end: a real ``domogate cloud serve`` process, the ``domogate cloud`` commands,
and control links from a client written from docs/cloud.md."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.exceptions import ConnectionClosed

from domogate.core import cloudwire
from tests.support.cloudproc import CloudProcess, link_once, open_link
from tests.support.processes import free_port, run, run_json

STOPPED = (0, -signal.SIGTERM)  # uvicorn shuts down, then re-raises the signal it caught
PASSWORDS = (
    "family-secret-1",
    "family-secret-2",
    "operator-secret-2",
    "guess-0",
    "guess-1",
    "guess-2",
)


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    folder = tmp_path_factory.mktemp("cloud")
    process = CloudProcess(folder / "data", free_port(), folder / "cloud.log")
    process.start()
    yield process
    assert process.stop() in STOPPED, process.log()
    assert "Traceback" not in process.log()
    for password in PASSWORDS:
        assert password not in process.log()


def name_of(key: Ed25519PrivateKey) -> str:
    return cloudwire.cloud_name(key.public_key())


async def test_claim_relink_and_another_key_cannot_use_the_name(cloud: CloudProcess) -> None:
    key = Ed25519PrivateKey.generate()
    home1 = name_of(key)
    refused = await link_once(cloud, key, home1, None)
    assert refused["type"] == "error" and refused["code"] == "cloud_claim_required"

    claim = await open_link(cloud, key, home1, "family-secret-1")
    await claim.ws.close()
    welcome = claim.answer
    assert welcome["type"] == "welcome", welcome
    assert welcome["name"] == home1
    assert welcome["url"] == f"https://{home1}.localhost:{cloud.port}"
    assert welcome["relay"] == f"127.0.0.1:{cloud.port}"
    assert len(claim.pool_key) == 32 and welcome["pool_size"] == 4
    assert "family-secret-1" not in json.dumps(welcome)

    again = await link_once(cloud, key, home1, None)  # the signature alone
    assert again["type"] == "welcome" and again["pool_key"] != welcome["pool_key"]
    thief = await link_once(cloud, Ed25519PrivateKey.generate(), home1, "family-secret-1")
    assert thief["code"] == "cloud_name_mismatch"

    info = run_json("cloud", "info", "--data", str(cloud.data))
    assert info["fingerprint"] == claim.fingerprint == cloud.ready["fingerprint"]
    listed = run_json("cloud", "installations", "list", "--data", str(cloud.data))
    (row,) = [r for r in listed["installations"] if r["name"] == home1]
    assert row["claimed"] and not row["invited"] and row["last_source"] == "127.0.0.1"
    assert "family-secret-1" not in json.dumps(listed)


async def test_wrong_passwords_are_refused_then_throttled(cloud: CloudProcess) -> None:
    key = Ed25519PrivateKey.generate()
    home2 = name_of(key)
    added = run(
        "cloud", "installations", "add", home2, "--password-stdin", "--data", str(cloud.data),
        stdin="operator-secret-2\n",
    )  # fmt: skip
    assert "operator-secret-2" not in added.stdout + added.stderr
    codes = [(await link_once(cloud, key, home2, f"guess-{i % 3}"))["code"] for i in range(5)]
    assert codes == ["cloud_password_invalid"] * 5
    throttled = await link_once(cloud, key, home2, "operator-secret-2")
    assert throttled["code"] == "rate_limited" and throttled["retry_after"] >= 1


async def test_a_newer_link_replaces_the_older_and_release_reaches_it(
    cloud: CloudProcess,
) -> None:
    key = Ed25519PrivateKey.generate()
    home3 = name_of(key)
    first = await open_link(cloud, key, home3, "family-secret-1")
    assert first.answer["type"] == "welcome"
    second = await open_link(cloud, key, home3, None)
    assert second.answer["type"] == "welcome"
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(10):
            await first.ws.recv()

    released = run_json("cloud", "installations", "release", home3, "--data", str(cloud.data))
    assert released == {"name": home3, "was_linked": True, "cloud_running": True}
    async with asyncio.timeout(10):
        assert json.loads(await second.ws.recv()) == {"type": "released"}
        with pytest.raises(ConnectionClosed):
            await second.ws.recv()

    # released: the signature alone no longer links; the server claims again with a password
    assert (await link_once(cloud, key, home3, None))["code"] == "cloud_claim_required"
    assert (await link_once(cloud, key, home3, "family-secret-2"))["type"] == "welcome"


def test_invite_only_refuses_names_the_operator_did_not_add(tmp_path: Path) -> None:
    process = CloudProcess(
        tmp_path / "data", free_port(), tmp_path / "cloud.log", extra_args=["--invite-only"]
    )
    process.start()
    try:
        key = Ed25519PrivateKey.generate()
        home4 = name_of(key)
        refused = asyncio.run(link_once(process, key, home4, "family-secret-1"))
        assert refused["code"] == "cloud_not_invited"
        run(
            "cloud", "installations", "add", home4, "--password-stdin",
            "--data", str(process.data), stdin="operator-secret-2\n",
        )  # fmt: skip
        welcome = asyncio.run(link_once(process, key, home4, "operator-secret-2"))
        assert welcome["type"] == "welcome"
    finally:
        assert process.stop() in STOPPED, process.log()
    assert "operator-secret-2" not in process.log()


def test_info_and_the_operator_api_needs_the_token(cloud: CloudProcess) -> None:
    with httpx.Client(
        base_url=f"https://127.0.0.1:{cloud.port}", verify=cloud.ssl_context(), timeout=10
    ) as client:
        info = client.get("/api/info").json()
        assert info["zone"] == "localhost" and info["fingerprint"] == cloud.ready["fingerprint"]
        assert info["url"] == f"https://localhost:{cloud.port}"
        for headers in ({}, {"Authorization": "Bearer " + "x" * 43}):
            refused = client.post("/api/operator/release", json={"name": "home1"}, headers=headers)
            assert refused.status_code == 401
            assert refused.json()["error"]["code"] == "unauthenticated"
    listed = run_json("cloud", "installations", "list", "--data", str(cloud.data))
    assert any(r["claimed"] for r in listed["installations"])  # the release was refused
