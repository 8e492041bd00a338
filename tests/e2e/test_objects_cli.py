"""`domogate state`, `set` and `watch` against a real server on the simulated bus."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.objects_project import project_with_objects
from tests.support.processes import (
    CLI,
    ServerProcess,
    cli_env,
    connect_with_password,
    deploy_first,
    run,
    run_json,
)

pytestmark = pytest.mark.slow


def wait_for_state(config: Path, object_id: str, expected: dict[str, object]) -> None:
    deadline = time.monotonic() + 10
    state = None
    while time.monotonic() < deadline:
        state = run_json("state", object_id, "--config", str(config))["state"]
        if state == expected:
            return
        time.sleep(0.1)
    raise AssertionError(f"{object_id}: {state} never became {expected}")


@pytest.fixture
def configs(server: ServerProcess, tmp_path: Path) -> tuple[Path, Path]:
    """The project with objects deployed; CLI configs of alice (family, admin) and bob
    (guests)."""
    deploy_first(project_with_objects(tmp_path), server)
    alice, bob = tmp_path / "alice", tmp_path / "bob"
    connect_with_password(server, "alice", "alice-password", alice)
    connect_with_password(server, "bob", "bob-password", bob)
    return alice, bob


def test_state_set_and_permissions_from_the_command_line(configs: tuple[Path, Path]) -> None:
    alice, bob = configs

    listing = run_json("state", "--config", str(alice))["objects"]
    assert [o["id"] for o in listing] == ["light", "dimmer", "thermostat"]
    bob_listing = run_json("state", "--config", str(bob))["objects"]
    assert [o["id"] for o in bob_listing] == ["light", "dimmer"]
    assert [o["operable"] for o in bob_listing] == [True, False]

    out = run("set", "Living light", "on", "--config", str(alice)).stdout
    assert "Living light: on = on" in out
    wait_for_state(alice, "light", {"on": True})

    result = run_json("set", "dimmer", "40", "--config", str(alice))
    assert result["attribute"] == "brightness" and result["value"] == 40
    result = run_json("set", "thermostat", "21.53", "--config", str(alice))
    assert result["attribute"] == "target" and result["value"] == 21.52

    refused = run("set", "dimmer", "40", "--config", str(bob), check=False)
    assert refused.returncode == 1 and "error: forbidden" in refused.stderr
    hidden = run("set", "thermostat", "20", "--config", str(bob), check=False)
    assert hidden.returncode == 1 and "error: not_found" in hidden.stderr
    assert "thermostat" not in hidden.stderr.split("known objects:")[-1]
    invalid = run("set", "dimmer", "140", "--config", str(alice), check=False)
    assert invalid.returncode == 1 and "error: value_invalid" in invalid.stderr
    assert "5.001" in invalid.stderr

    table = run("state", "--config", str(alice)).stdout
    assert "Living light" in table and "21.52 °C" in table


def test_watch_streams_changes_to_those_who_may_see_them(configs: tuple[Path, Path]) -> None:
    alice, bob = configs
    watcher = subprocess.Popen(
        [*CLI, "watch", "light", "--json", "--count", "1", "--config", str(bob)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    try:
        value = True
        deadline = time.monotonic() + 20
        while watcher.poll() is None and time.monotonic() < deadline:
            run("set", "light", "on" if value else "off", "--config", str(alice))
            value = not value
            time.sleep(0.3)
        out, err = watcher.communicate(timeout=10)
    finally:
        if watcher.poll() is None:
            watcher.kill()
            watcher.communicate()
    assert watcher.returncode == 0, err
    change = json.loads(out.strip().splitlines()[0])
    assert change["type"] == "state" and change["object"] == "light"
    assert set(change["state"]) == {"on"}
