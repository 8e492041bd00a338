"""A real ``domogate server`` linked to a real ``domogate cloud serve`` (the setup of
``tests/e2e/test_cloud_link.py`` and ``test_cloud_journey.py``, shared): enable the cloud
in a project, pinned by the cloud's fingerprint, deploy it, wait for the link."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from domogate.core.cloudwire import cloud_name
from tests.support.cloudproc import CloudProcess
from tests.support.processes import ServerProcess, deploy_first, new_project, run, run_json
from tests.support.until import wait_for

CLOUD_PASSWORD = "cloud-pass-7c21-never-logged"


def enable_cloud(project: Path, cloud: CloudProcess, password: str = CLOUD_PASSWORD) -> None:
    """``system.cloud`` of ``project``: the cloud's address, its pinned fingerprint, the
    installation's password, enabled."""
    run("project", "set", str(project), "system.cloud.address", f"127.0.0.1:{cloud.port}")
    run("project", "set", str(project), "system.cloud.fingerprint", cloud.ready["fingerprint"])
    run("project", "set", str(project), "system.cloud.password", password)
    run("project", "set", str(project), "system.cloud.enabled", "true")


def server_cloud_name(server: ServerProcess) -> str:
    return cloud_name(run_json("server", "info", "--data", str(server.data))["server_id"])


def info(server: ServerProcess) -> dict[str, Any]:
    with server.http() as c:
        body: dict[str, Any] = c.get("/api/info").json()
        return body


def wait_linked(server: ServerProcess, timeout: float = 20) -> dict[str, Any]:
    """``/api/info`` once it gives the cloud path."""
    found: dict[str, Any] = wait_for(
        lambda: (i := info(server))["paths"]["cloud"] and i, "the cloud link", timeout
    )
    return found


def link_new_server(tmp_path: Path, server: ServerProcess, cloud: CloudProcess) -> str:
    """A new project with the cloud enabled, deployed to the started ``server``; returns
    the installation's cloud name once linked."""
    project = new_project(tmp_path)
    enable_cloud(project, cloud)
    deploy_first(project, server)
    wait_linked(server)
    return server_cloud_name(server)
