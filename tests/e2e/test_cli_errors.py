"""Clear errors from the command line, and nothing changed by a refused command."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.support.processes import (
    ServerProcess,
    connect_with_password,
    deploy_first,
    free_port,
    new_project,
    run,
    run_json,
)

pytestmark = pytest.mark.slow


def test_port_in_use_is_a_clear_error_before_any_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = run("server", "--data", str(tmp_path / "d"), "--port", str(port), check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("error: address_in_use:")
    assert "listening" not in r.stdout


def test_server_info_refuses_a_folder_that_is_not_a_server(tmp_path: Path) -> None:
    r = run("server", "info", "--data", str(tmp_path / "typo"), "--json", check=False)
    assert r.returncode == 1 and json.loads(r.stdout)["error"]["code"] == "invalid_input"
    assert not (tmp_path / "typo").exists()


def test_insecure_http_warns_on_stderr(tmp_path: Path) -> None:
    import subprocess
    import time

    from tests.support.processes import CLI, cli_env

    port = free_port()
    proc = subprocess.Popen(
        [*CLI, "server", "--data", str(tmp_path / "d"), "--port", str(port), "--insecure-http"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        import httpx

        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/info").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=20)
    assert "WARNING: plain HTTP" in err
    assert f"http://127.0.0.1:{port}" in out


def test_refused_commands_change_nothing(tmp_path: Path, server: ServerProcess) -> None:
    project = new_project(tmp_path)
    before = (project / "project.yaml").read_bytes()
    r = run("project", "set", str(project), "users.alice.name", "bob", check=False)
    assert r.returncode == 1 and "error: key_invalid:" in r.stderr
    r = run("project", "set", str(project), "server.port", "true", check=False)
    assert r.returncode == 1
    r = run("project", "set", str(project), "no.such.key", "1", check=False)
    assert r.returncode == 1 and "error: key_invalid:" in r.stderr
    assert (project / "project.yaml").read_bytes() == before

    fp = server.fingerprint
    deploy_first(project, server)
    admin = tmp_path / "admin"
    connect_with_password(server, "alice", "alice-password", admin)

    def labels() -> list[str]:
        return sorted(
            c["label"] for c in run_json("clients", "list", "--config", str(admin))["clients"]
        )

    before_clients = labels()
    r = run(
        "clients",
        "add",
        "--qr-png",
        str(tmp_path / "missing" / "x.png"),
        "--config",
        str(admin),
        check=False,
    )
    assert r.returncode == 1 and "error: invalid_input:" in r.stderr
    assert labels() == before_clients

    r = run(
        "deploy",
        str(project),
        "--server",
        server.url,
        "--password-stdin",
        "--fingerprint",
        fp,
        stdin="wrong\n",
        check=False,
    )
    assert r.returncode == 1 and "error: invalid_credentials:" in r.stderr

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "project.yaml").write_text("name: [unclosed\n")
    r = run(
        "deploy",
        str(broken),
        "--server",
        server.url,
        "--password-stdin",
        "--fingerprint",
        fp,
        stdin="service-secret\n",
        check=False,
    )
    assert (
        r.returncode == 1 and "error: project_invalid:" in r.stderr and "project.yaml:" in r.stderr
    )
    with server.http() as c:
        assert c.get("/api/info").json()["version"] == 1


def test_project_new_in_an_unwritable_place(tmp_path: Path) -> None:
    r = run("project", "new", "/proc/domogate-test", "--name", "X", check=False)
    assert r.returncode == 1 and r.stderr.startswith("error: invalid_input:")
    assert "Traceback" not in r.stderr


def test_local_admin_grant_and_revoke(tmp_path: Path, server: ServerProcess) -> None:
    project = new_project(tmp_path)
    run(
        "project",
        "user",
        "add",
        str(project),
        "bob",
        "--group",
        "guests",
        "--password-stdin",
        stdin="bob-password\n",
    )
    deploy_first(project, server)
    bob = tmp_path / "bob"
    connect_with_password(server, "bob", "bob-password", bob)
    denied = run("clients", "list", "--config", str(bob), "--json", check=False)
    assert json.loads(denied.stdout)["error"]["code"] == "forbidden"

    data = str(server.data)
    granted = run_json("server", "admin", "grant", "BOB", "--data", data)
    assert granted["admin"] is True and granted["changed"] is True
    assert run("server", "admin", "grant", "bob", "--data", data).stdout.strip() == (
        "bob was already an administrator."
    )
    assert run_json("clients", "list", "--config", str(bob))["clients"]  # works at once

    run("server", "admin", "revoke", "bob", "--data", data)
    denied = run("clients", "list", "--config", str(bob), "--json", check=False)
    assert json.loads(denied.stdout)["error"]["code"] == "forbidden"

    unknown = run("server", "admin", "grant", "nobody", "--data", data, check=False)
    assert unknown.returncode == 1 and "Known users: alice, bob" in unknown.stderr
