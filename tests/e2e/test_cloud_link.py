"""End to end: a real `domogate cloud serve` and real `domogate server` processes whose
deployed project enables the cloud (its certificate pinned by the fingerprint `domogate
cloud info --json` gives)."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core.cloudwire import cloud_name
from tests.support.processes import (
    CLI,
    ServerProcess,
    cli_env,
    deploy_first,
    free_port,
    new_project,
    run,
    run_json,
)
from tests.support.until import wait_for

CLOUD_PASSWORD = "cloud-pass-4d9a-never-logged"
CLIENT_HOST = "127.0.0.5"  # the away client's own address (the relay dials from 127.0.0.1)


@dataclass
class Cloud:
    data: Path
    port: int
    log_path: Path
    proc: subprocess.Popen[bytes]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    data, port, log_path = tmp_path / "cloud", free_port(), tmp_path / "cloud.log"
    with log_path.open("ab") as log:
        proc = subprocess.Popen(
            [*CLI, "cloud", "serve", "--data", str(data), "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=cli_env(),
        )
    c = Cloud(data, port, log_path, proc)
    try:
        wait_for(lambda: "ready: " in c.log() or proc.poll() is not None, "the cloud")
        assert proc.poll() is None, c.log()
        yield c
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _server(tmp_path: Path, name: str) -> ServerProcess:
    return ServerProcess(tmp_path / name, free_port(), tmp_path / f"{name}.log")


def _enable_cloud(project: Path, cloud: Cloud) -> None:
    fingerprint = run_json("cloud", "info", "--data", str(cloud.data))["fingerprint"]
    run("project", "set", str(project), "system.cloud.address", cloud.address)
    run("project", "set", str(project), "system.cloud.fingerprint", fingerprint)
    run("project", "set", str(project), "system.cloud.password", CLOUD_PASSWORD)
    run("project", "set", str(project), "system.cloud.enabled", "true")


def _info(server: ServerProcess) -> dict[str, Any]:
    with server.http() as c:
        body: dict[str, Any] = c.get("/api/info").json()
        return body


def _redeploy(project: Path, server: ServerProcess) -> None:
    run(
        "deploy", str(project), "--server", server.url, "--password-stdin",
        "--fingerprint", server.fingerprint, stdin="service-secret\n",
    )  # fmt: skip


def test_the_link_follows_the_deployed_project(tmp_path: Path, cloud: Cloud) -> None:
    server = _server(tmp_path, "home")
    second = _server(tmp_path, "intruder")
    project = new_project(tmp_path)
    _enable_cloud(project, cloud)
    server.start()
    try:
        assert _info(server)["paths"]["cloud"] is None
        deploy_first(project, server)
        name = run("server", "cloud-name", "--data", str(server.data)).stdout.strip()
        key = serialization.load_pem_private_key((server.data / "cloud.key").read_bytes(), None)
        assert isinstance(key, Ed25519PrivateKey) and name == cloud_name(key.public_key())
        info = wait_for(lambda: (i := _info(server))["paths"]["cloud"] and i, "the link")
        assert info["paths"]["cloud"].startswith(f"https://{name}.localhost")
        assert info["cloud_relay"].endswith(f":{cloud.port}")
        assert info["paths"]["local"] == server.url
        # the server says when join links start carrying the cloud path
        linked = f"cloud linked: {info['paths']['cloud']} (join links made from now on"
        wait_for(lambda: linked in server.log(), "the linked line")
        claim = json.loads((server.data / "cloud-claim.json").read_text())
        assert claim["name"] == name and claim["address"] == cloud.address
        assert (server.data / "cloud.key").stat().st_mode & 0o077 == 0

        # another server with a copied server id (anyone on the LAN can read it) and the
        # right password: its name comes from its own key, so it links as another
        # installation and the house's name stays the house's
        second.data.mkdir(mode=0o700)
        shutil.copy(server.data / "server.json", second.data / "server.json")
        second.start()
        deploy_first(project, second)
        other = wait_for(lambda: _info(second)["paths"]["cloud"], "the second server's link")
        assert name not in other
        assert _info(server)["paths"]["cloud"] == info["paths"]["cloud"]
        second.stop()

        # a redeploy that disables the cloud drops the link at once
        run("project", "set", str(project), "system.cloud.enabled", "false")
        _redeploy(project, server)
        wait_for(lambda: _info(server)["paths"]["cloud"] is None, "the link to stop", 5)
        released = run_json("cloud", "installations", "release", name, "--data", str(cloud.data))
        assert released["was_linked"] is False  # the cloud saw the link end

        # enabled again: the claim record is stale (released meanwhile), the cloud asks for
        # the password (cloud_claim_required) and the server claims its name again
        run("project", "set", str(project), "system.cloud.enabled", "true")
        _redeploy(project, server)
        wait_for(lambda: _info(server)["paths"]["cloud"], "the link again")

        # the operator releases it while linked: the server forgets its claim record
        released = run_json("cloud", "installations", "release", name, "--data", str(cloud.data))
        assert released["was_linked"] is True
        wait_for(lambda: not (server.data / "cloud-claim.json").exists(), "the claim forgotten")
        assert _info(server)["paths"]["cloud"] is None
    finally:
        second.stop()
        server.stop()
    for log in (server.log(), second.log(), cloud.log()):
        assert CLOUD_PASSWORD not in log


def _through_relay(
    cloud: Cloud, name: str, server: ServerProcess, method: str, path: str, **kw: Any
) -> tuple[int, Any, str]:
    """One request to the relay with SNI ``NAME.localhost``, pinning the home server's own
    certificate: (status, JSON body, SHA-256 of the certificate seen)."""
    import hashlib
    import socket

    context = server.ssl_context()
    with (
        socket.create_connection(
            ("127.0.0.1", cloud.port), timeout=10, source_address=(CLIENT_HOST, 0)
        ) as raw,
        context.wrap_socket(raw, server_hostname=f"{name}.localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
        assert der is not None
        body = json.dumps(kw["json"]).encode() if "json" in kw else b""
        head = [f"{method} {path} HTTP/1.1", f"Host: {name}.localhost", "Connection: close"]
        head += [f"{k}: {v}" for k, v in kw.get("headers", {}).items()]
        if body:
            head += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
        tls.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        chunks = []
        while chunk := tls.recv(65536):
            chunks.append(chunk)
    answer = b"".join(chunks)
    status_line, _, rest = answer.partition(b"\r\n")
    _, _, content = rest.partition(b"\r\n\r\n")
    return (
        int(status_line.split()[1]),
        json.loads(content or b"null"),
        hashlib.sha256(der).hexdigest(),
    )


def test_a_client_through_the_relay_meets_the_home_server(tmp_path: Path, cloud: Cloud) -> None:
    from domogate.core import devicekeys

    server = _server(tmp_path, "home")
    project = new_project(tmp_path)
    _enable_cloud(project, cloud)
    server.start()
    try:
        deploy_first(project, server)
        name = run("server", "cloud-name", "--data", str(server.data)).stdout.strip()
        wait_for(lambda: _info(server)["paths"]["cloud"], "the link")
        device = {"name": "away", "public_key": devicekeys.public_key_of(
            devicekeys.generate_private_key())}  # fmt: skip
        status, auth, seen = _through_relay(
            cloud, name, server, "POST", "/api/auth/password",
            json={"username": "alice", "password": "alice-password", "device": device},
            headers={"X-Domogate-Path": "local", "X-Forwarded-For": "198.51.100.9"},
        )  # fmt: skip
        assert seen == server.fingerprint  # TLS end to end: the home server's certificate
        assert status == 200, auth
        assert auth["path"] == "cloud"
        bearer = {"Authorization": f"Bearer {auth['session']['token']}"}
        status, me, _ = _through_relay(cloud, name, server, "GET", "/api/me", headers=bearer)
        assert status == 200 and me["path"] == "cloud"
        status, audit, _ = _through_relay(cloud, name, server, "GET", "/api/audit", headers=bearer)
        login = next(e for e in audit["events"] if e["action"].startswith("login"))
        assert login["path"] == "cloud" and login["source"] == CLIENT_HOST  # the client's own
        status, info, _ = _through_relay(cloud, name, server, "GET", "/api/info")
        assert info["paths"]["cloud"].startswith(f"https://{name}.localhost")
        status, exported, _ = _through_relay(
            cloud, name, server, "GET", "/api/project", headers=bearer
        )
        assert status == 200
        assert CLOUD_PASSWORD not in json.dumps([auth, me, audit, info, exported])
        status, exported, _ = _through_relay(
            cloud, name, server, "GET", "/api/project", headers=bearer
        )
        assert status == 200
        assert CLOUD_PASSWORD not in json.dumps([auth, me, audit, info, exported])

        # disabled: the link drops, and the relay refuses the name
        run("project", "set", str(project), "system.cloud.enabled", "false")
        _redeploy(project, server)
        wait_for(lambda: _info(server)["paths"]["cloud"] is None, "the link to stop", 5)

        def refused() -> bool:
            try:
                _through_relay(cloud, name, server, "GET", "/api/info")
            except (OSError, ValueError, IndexError):
                return True
            return False

        wait_for(refused, "the relay to refuse the name", 10)
    finally:
        server.stop()
    for log in (server.log(), cloud.log()):
        assert CLOUD_PASSWORD not in log
