"""End to end, the integrator's side of publishing: a real `domogate cloud serve`, a real
`domogate server` linked to it by a local `domogate deploy` (which pinned the integrator
key and wrote DIR/.domogate/publish.json), then `domogate cloud publish` and `domogate
cloud versions` as an integrator runs them; a wrong cloud password is refused, then
throttled."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from domogate.core.publishing import canonical_content, digest_of
from domogate.storage.projectfile import load_project
from tests.support.cloudproc import CloudProcess
from tests.support.linked import CLOUD_PASSWORD, link_new_server
from tests.support.processes import ServerProcess, free_port, run, run_json


@pytest.fixture
def linked(tmp_path: Path) -> Iterator[tuple[ServerProcess, CloudProcess, str, Path]]:
    cloud = CloudProcess(tmp_path / "cloud", free_port(), tmp_path / "cloud.log")
    server = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    try:
        name = link_new_server(tmp_path, server, cloud)
        yield server, cloud, name, tmp_path / "project"
    finally:
        server.stop()
        cloud.stop()


def publish(project: Path, password: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run(
        "cloud", "publish", str(project), "--password-stdin", *args,
        stdin=password + "\n", check=False,
    )  # fmt: skip


def test_publish_uploads_versions_lists_a_wrong_password_is_refused_then_throttled(
    linked: tuple[ServerProcess, CloudProcess, str, Path],
) -> None:
    server, cloud, name, project = linked
    record = json.loads((project / ".domogate" / "publish.json").read_text())
    assert record["installation"] == name
    assert record["cloud"] == {
        "address": f"127.0.0.1:{cloud.port}",
        "fingerprint": cloud.ready["fingerprint"],
    }
    pinned = run_json("server", "info", "--data", str(server.data))["publisher_key_fingerprint"]
    assert pinned == record["publisher_key_fingerprint"]

    first = publish(project, CLOUD_PASSWORD, "--json")
    assert first.returncode == 0, first.stdout + first.stderr
    answer = json.loads(first.stdout)
    from domogate.core.project import project_to_data

    content = canonical_content(project_to_data(load_project(project)))
    assert answer["installation"] == name and answer["version"] == 1
    assert answer["digest"] == digest_of(content) and answer["size"] == len(content)
    assert answer["seconds"] >= 0
    second = publish(project, CLOUD_PASSWORD)
    assert second.returncode == 0, second.stderr
    assert f"Published version 2 of {project} to installation {name}" in second.stdout

    listed = run_json("cloud", "versions", str(project), "--password-stdin", stdin=CLOUD_PASSWORD)
    assert listed["installation"] == name
    assert [v["version"] for v in listed["versions"]] == [2, 1]
    assert {v["publisher_key_fingerprint"] for v in listed["versions"]} == {pinned}
    table = run("cloud", "versions", str(project), "--password-stdin", stdin=CLOUD_PASSWORD)
    assert "Versions of " + name in table.stdout and "Report" in table.stdout

    older = publish(project, CLOUD_PASSWORD, "--version", "2")
    assert older.returncode != 0
    assert "version_not_newer" in older.stderr or "not newer" in older.stderr, older.stderr

    # Another certificate than the pinned one: nothing is sent (not even the password).
    path = project / ".domogate" / "publish.json"
    saved = path.read_text()
    path.write_text(saved.replace(cloud.ready["fingerprint"], "0" * 64))
    mismatch = publish(project, CLOUD_PASSWORD)
    assert mismatch.returncode != 0 and "does not match" in mismatch.stderr, mismatch.stderr
    path.write_text(saved)

    wrong = publish(project, "not-the-cloud-password")
    assert wrong.returncode != 0 and "system.cloud.password" in wrong.stderr, wrong.stderr
    assert "not-the-cloud-password" not in wrong.stdout + wrong.stderr
    # More wrong guesses from the same address, straight to the API. This address
    # published already, so it skips the name's budget (5) and spends only its own (10
    # a minute); then the CLI is throttled here, even with the right password.
    url = f"https://127.0.0.1:{cloud.port}/api/installations/{name}/versions"
    with httpx.Client(verify=cloud.ssl_context(), timeout=10) as http:
        codes = [http.get(url, auth=(name, f"guess-{i}")).status_code for i in range(12)]
    assert codes[:4] == [401] * 4 and codes[-1] == 429, codes
    throttled = publish(project, CLOUD_PASSWORD)
    assert throttled.returncode != 0
    assert "try again in" in throttled.stderr, throttled.stderr
    assert "versions_throttled" in cloud_audit(cloud)


def cloud_audit(cloud: CloudProcess) -> str:
    """The cloud's audit rows, as text (read from its database)."""
    import sqlite3

    with sqlite3.connect(cloud.data / "cloud.db") as db:
        return "\n".join(str(row) for row in db.execute("SELECT * FROM cloud_audit"))
