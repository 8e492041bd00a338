"""End to end, the home server's side of publishing: a real `domogate cloud serve`, a real
`domogate server` linked to it and pinned by a local `domogate deploy` with automatic
server update on; `domogate cloud publish` and the server applies the version by itself
(under 5 s). A SIGKILL while it applies leaves the old project and ``published_version``
(or the new ones), never a mixture; the next link applies it."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import publishing
from domogate.core.publishing import canonical_content
from domogate.storage.projectfile import set_key
from domogate.storage.sql.schema import CURRENT_PROJECT_KEY
from tests.support.cloudproc import CloudProcess
from tests.support.linked import (
    CLOUD_PASSWORD,
    info,
    link_new_server,
    server_cloud_name,
    wait_linked,
)
from tests.support.processes import ServerProcess, cli_env, free_port, run
from tests.support.published import Signed, signed_version
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


def _cloud_rows(cloud: CloudProcess) -> list[tuple[int, str | None]]:
    with sqlite3.connect(cloud.data / "cloud.db") as db:
        return list(db.execute("SELECT version, report FROM versions ORDER BY version"))


def _plant(cloud: CloudProcess, name: str, version: int, signed: Signed) -> None:
    """What a hostile cloud (or its operator) does: store a version of its own choosing,
    straight into its database, with the cloud stopped."""
    manifest = publishing.parse_manifest(signed.manifest)
    with sqlite3.connect(cloud.data / "cloud.db") as db:
        stored_at = db.execute("SELECT stored_at FROM versions LIMIT 1").fetchone()
        db.execute(
            "INSERT INTO versions (installation, version, digest, size, published_at,"
            " publisher_key_fingerprint, manifest, signature, content, report, stored_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
            (name, version, manifest.digest, len(signed.content), manifest.published_at,
             publishing.key_fingerprint_of_text(manifest.publisher_key), signed.manifest,
             signed.signature, signed.content,
             stored_at[0] if stored_at else "2027-01-10 09:00:00.000000"),
        )  # fmt: skip


def _report(cloud: CloudProcess, version: int) -> dict[str, object] | None:
    for number, report in _cloud_rows(cloud):
        if number == version and report:
            parsed: dict[str, object] = json.loads(report)
            return parsed
    return None


def test_a_hostile_cloud_cannot_change_the_house(
    linked: tuple[ServerProcess, CloudProcess, Path],
) -> None:
    """The cloud offers versions of its own making, one at a time (each the latest when
    the server links again): signed by another key, the house's project with a changed
    content, a version for another installation, and an older version replayed under a
    new number. Each is refused, reported to the cloud, audited; the house keeps its
    project and its published version."""
    server, cloud, project = linked
    name = server_cloud_name(server)
    integrator = serialization.load_pem_private_key(
        Path(cli_env()["DOMOGATE_INTEGRATOR_KEY"]).read_bytes(), None
    )
    assert isinstance(integrator, Ed25519PrivateKey)
    set_key(project, "name", "Published honestly")
    publish(project)  # version 1, applied: the baseline
    wait_for(lambda: info(server)["name"] == "Published honestly", "version 1 applied", 10)
    with sqlite3.connect(cloud.data / "cloud.db") as db:
        (content,) = db.execute("SELECT content FROM versions WHERE version = 1").fetchone()
    house = json.loads(content)
    pirate = {**house, "name": "Taken"}
    pirate["users"] = [
        *house["users"],
        {"name": "mallory", "admin": True, "password": house["users"][0]["password"]},
    ]
    real_v3 = signed_version(name, 3, integrator, project=house)
    replayed = signed_version(name, 1, integrator, project=pirate)
    hostile = [
        (2, signed_version(name, 2, Ed25519PrivateKey.generate(), project=pirate),
         "signature_invalid"),
        (3, Signed(real_v3.manifest, real_v3.signature, canonical_content(pirate)),
         "version_digest_mismatch"),
        (4, signed_version("anotherhouse0000", 4, integrator, project=pirate),
         "version_wrong_installation"),
        (6, replayed, None),  # version 1's signed manifest, offered as version 6
    ]  # fmt: skip
    for version, signed, code in hostile:
        cloud.stop()
        _plant(cloud, name, version, signed)
        cloud.start()
        report = wait_for(lambda v=version: _report(cloud, v), f"the report on {version}", 30)
        assert report["applied"] is False, report
        if code is not None:
            assert report["code"] == code, report
        now = info(server)
        assert (now["name"], now["version"]) == ("Published honestly", 3), now
        assert meta(server, "published_version") == "1"
    with sqlite3.connect(server.data / "domogate.db") as db:
        refused = db.execute(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'update.refused'"
        ).fetchone()[0]
    assert refused == len(hostile)
    assert "mallory" not in json.dumps(info(server))
