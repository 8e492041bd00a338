"""A real ``domogate server`` linked to a real ``domogate cloud serve`` (the setup of
``tests/e2e/test_cloud_link.py`` and ``test_cloud_journey.py``, shared): enable the cloud
in a project, pinned by the cloud's fingerprint, deploy it, wait for the link."""

from __future__ import annotations

import concurrent.futures
from pathlib import Path
from typing import Any

from domogate.core.cloudwire import cloud_name
from domogate.storage.datadir import DataDir
from domogate.storage.projectfile.keys import set_key
from tests.support.cloudproc import CloudProcess
from tests.support.processes import ServerProcess, deploy_first, new_project
from tests.support.until import wait_for

CLOUD_PASSWORD = "cloud-pass-7c21-never-logged"


def enable_cloud(project: Path, cloud: CloudProcess, password: str = CLOUD_PASSWORD) -> None:
    """``system.cloud`` of ``project`` (what ``domogate project set`` writes, in this
    process): the cloud's address, its pinned fingerprint, the password, enabled."""
    set_key(project, "system.cloud.address", f"127.0.0.1:{cloud.port}")
    set_key(project, "system.cloud.fingerprint", cloud.ready["fingerprint"])
    set_key(project, "system.cloud.password", password)
    set_key(project, "system.cloud.enabled", "true")


def server_cloud_name(server: ServerProcess) -> str:
    """The installation's cloud name: ``cloudwire.cloud_name`` of the server's link key."""
    return cloud_name(DataDir(server.data).cloud_key().public_key())


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
    """Start ``cloud`` and ``server`` while a new project is written (at the same time:
    each is a Python process starting), enable the cloud in it, deploy it; returns the
    installation's cloud name once linked."""
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        started = [pool.submit(cloud.start), pool.submit(server.start)]
        project = new_project(tmp_path)
        for future in started:
            future.result()
    enable_cloud(project, cloud)
    deploy_first(project, server)
    wait_linked(server)
    return server_cloud_name(server)
