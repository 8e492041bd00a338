"""End to end, the home server's side of publishing: a real `domogate cloud serve`, a real
`domogate server` linked to it and pinned by a local `domogate deploy` with automatic
server update on; `domogate cloud publish` and the server applies the version by itself
(under 5 s). A SIGKILL while it applies leaves the old project and ``published_version``
(or the new ones), never a mixture; the next link applies it."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from domogate.storage.projectfile import set_key
from domogate.storage.sql.schema import CURRENT_PROJECT_KEY
from tests.support.cloudproc import CloudProcess
from tests.support.linked import CLOUD_PASSWORD, info, link_new_server, wait_linked
from tests.support.processes import ServerProcess, free_port, run
from tests.support.until import wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[tuple[ServerProcess, CloudProcess, Path]]:
    cloud = CloudProcess(tmp_path / "cloud", free_port(), tmp_path / "cloud.log")
    server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    try:
        link_new_server(tmp_path, server, cloud)
        project = tmp_path / "project"
        set_key(project, "system.automatic_server_update", "true")
        redeploy(project, server)
        yield server, cloud, project
    finally:
        server.stop()
        cloud.stop()


def redeploy(project: Path, server: ServerProcess) -> None:
    run(
        "deploy", str(project), "--server", server.url, "--fingerprint", server.fingerprint,
        "--password-stdin", stdin="service-secret\n",
    )  # fmt: skip


def publish(project: Path) -> subprocess.CompletedProcess[str]:
    return run("cloud", "publish", str(project), "--password-stdin", stdin=CLOUD_PASSWORD + "\n")


def meta(server: ServerProcess, key: str) -> str | None:
    with sqlite3.connect(server.data / "domogate.db") as db:
        row = db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    return None if row is None else str(row[0])


def test_a_published_version_is_applied_by_the_linked_server(
    linked: tuple[ServerProcess, CloudProcess, Path],
) -> None:
    server, _cloud, project = linked
    assert info(server)["version"] == 2
    set_key(project, "name", "Published from afar")
    publish(project)
    started = time.monotonic()
    applied = wait_for(
        lambda: (i := info(server))["version"] == 3 and i, "the published version applied", 5
    )
    elapsed = time.monotonic() - started
    assert applied["name"] == "Published from afar", applied
    assert meta(server, "published_version") == "1"
    assert elapsed < 5
    versions = run("cloud", "versions", str(project), "--password-stdin", "--json",
                   stdin=CLOUD_PASSWORD).stdout  # fmt: skip
    assert '"applied": true' in versions, versions


def test_sigkill_while_a_published_version_is_applied(
    linked: tuple[ServerProcess, CloudProcess, Path],
) -> None:
    server, _cloud, project = linked
    server.stop()
    server.extra_env = {"DOMOGATE_FAULT_DEPLOY_PAUSE": "30"}
    server.start()
    wait_linked(server)
    set_key(project, "name", "Never half applied")
    publish(project)
    wait_for(lambda: "deploy: committing" in server.log(), "the published deploy's commit", 10)
    server.stop(signal.SIGKILL)

    # read while the server is dead: the old project, and the meta that goes with it
    assert meta(server, CURRENT_PROJECT_KEY) == "2"
    assert meta(server, "published_version") is None
    server.extra_env = {}
    server.start()
    # the new link hears of the version again (after its welcome) and applies it whole
    applied = wait_for(lambda: (i := info(server))["version"] == 3 and i, "the update", 20)
    assert applied["name"] == "Never half applied"
    assert meta(server, "published_version") == "1"
