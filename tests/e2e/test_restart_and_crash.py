"""Restart keeps everything; SIGKILL in the middle of a deploy keeps the previous version."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from domogate.core import devicekeys
from domogate.core.project import project_to_data
from domogate.storage.projectfile import load_project, set_key
from tests.support.deploy_auth import deploy_headers
from tests.support.processes import ServerProcess, free_port, new_project, redeem_over_http

pytestmark = pytest.mark.slow


def deploy(server: ServerProcess, project_dir: Path, **auth: str) -> httpx.Response:
    data = project_to_data(load_project(project_dir))
    with server.http() as c:
        return c.post(
            "/api/deploy", json={"project": data}, headers=deploy_headers(**auth), timeout=60
        )


def login(server: ServerProcess, key: Any) -> dict[str, Any]:
    with server.http() as c:
        r = c.post(
            "/api/auth/password",
            json={
                "username": "alice",
                "password": "alice-password",
                "device": {"name": "laptop", "public_key": devicekeys.public_key_of(key)},
            },
        )
    assert r.status_code == 200, r.text
    return dict(r.json())


def device_sign_in(
    server: ServerProcess, device_id: str, key: Any, server_id: str
) -> httpx.Response:
    with server.http() as c:
        ch = c.post("/api/auth/challenge", json={"device_id": device_id}).json()["challenge"]
        sig = devicekeys.sign(key, devicekeys.challenge_message(server_id, device_id, ch))
        return c.post(
            "/api/auth/device", json={"device_id": device_id, "challenge": ch, "signature": sig}
        )


def test_restart_keeps_users_devices_pending_otps_and_version(tmp_path: Path) -> None:
    project = new_project(tmp_path)
    server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    server.start()
    try:
        r = deploy(server, project, setup_code=server.setup_code())
        assert r.status_code == 200, r.text
        key = devicekeys.generate_private_key()
        auth = login(server, key)
        token = auth["session"]["token"]
        with server.http() as c:
            issued = c.post(
                "/api/clients", json={"name": "Guest"}, headers={"Authorization": f"Bearer {token}"}
            ).json()
            info_before = c.get("/api/info").json()
    finally:
        server.stop()

    server.start()
    try:
        with server.http() as c:
            info = c.get("/api/info").json()
        assert info["version"] == 1 and info["server_id"] == info_before["server_id"]
        assert info["fingerprint"] == info_before["fingerprint"]
        # sessions are in memory only: the old token is gone, the device key still works
        with server.http() as c:
            r = c.get("/api/clients", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401
        r = device_sign_in(server, auth["device"]["id"], key, info["server_id"])
        assert r.status_code == 200, r.text
        new_token = r.json()["session"]["token"]
        with server.http() as c:
            clients = c.get("/api/clients", headers={"Authorization": f"Bearer {new_token}"}).json()
        row = next(c for c in clients["clients"] if c["id"] == issued["client"]["id"])
        assert row["status"] == "Pending" and row["label"] == issued["otp"]
        # the pending OTP survived and still works
        r, _ = redeem_over_http(server, issued["otp"], "ignored")
        assert r.status_code == 200, r.text
        assert r.json()["user"]["name"] == "Guest"
    finally:
        server.stop()


def test_sigkill_during_deploy_keeps_the_previous_version(tmp_path: Path) -> None:
    project = new_project(tmp_path, name="Version one")
    server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    server.start()
    try:
        assert deploy(server, project, setup_code=server.setup_code()).status_code == 200
    finally:
        server.stop()

    set_key(project, "name", "Version two")
    set_key(project, "system.use_otp_authentication", "false")
    server.extra_env = {"DOMOGATE_FAULT_DEPLOY_PAUSE": "30"}
    server.start()
    outcome: dict[str, Any] = {}

    def attempt() -> None:
        try:
            outcome["response"] = deploy(server, project, password="service-secret")
        except httpx.HTTPError as exc:
            outcome["error"] = exc

    thread = threading.Thread(target=attempt)
    thread.start()
    deadline = time.monotonic() + 20
    while "deploy: committing" not in server.log():
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.05)
    server.stop(signal.SIGKILL)
    thread.join(30)
    assert "response" not in outcome  # the deploy never completed

    server.extra_env = {}
    server.start()
    try:
        with server.http() as c:
            info = c.get("/api/info").json()
        assert info["version"] == 1
        assert info["name"] == "Version one"
        assert "otp" in info["auth_methods"]
        key = devicekeys.generate_private_key()
        auth = login(server, key)
        with server.http() as c:
            proj = c.get(
                "/api/project", headers={"Authorization": f"Bearer {auth['session']['token']}"}
            ).json()
        assert proj["version"] == 1 and proj["name"] == "Version one"
        # and the same deploy, done again without the crash, works
        r = deploy(server, project, password="service-secret")
        assert r.status_code == 200, r.text
        assert r.json()["version"] == 2
    finally:
        server.stop()
