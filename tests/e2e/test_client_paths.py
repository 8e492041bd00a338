"""The client follows the connection policy across two paths, against a real server.

The local path is a byte forwarder on 127.0.0.2 in front of the server's port (cut by the
test); the cloud path is another on 127.0.0.3, given as the relay of the cloud URL
``https://maison.test:PORT`` (the client dials it and names the cloud host in SNI and
``Host``; the real relay also only copies bytes). Both reach the same server, whose
certificate is pinned once.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import ssl
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from domogate.cli import client_cmd
from domogate.client.config import ClientConfig, ClientSettings
from domogate.client.follow import LiveFollower
from domogate.client.session import sign_in
from domogate.core.paths import Plan
from domogate.errors import CertificateMismatch
from domogate.security.tls import generate_self_signed
from tests.support.forwarder import Forwarder
from tests.support.objects_project import project_with_objects
from tests.support.processes import (
    ServerProcess,
    deploy_first,
    free_port,
    run,
)

pytestmark = pytest.mark.slow


@dataclasses.dataclass
class House:
    server: ServerProcess
    project: Path
    local: Forwarder
    cloud: Forwarder
    config: Path
    policy: tuple[str, bool] = ("local_and_cloud", True)

    def set_policy(self, policy: str, automatic: bool = True) -> None:
        """Redeploy with this policy; the client learns it at its next /api/info."""
        if (policy, automatic) == self.policy:
            return
        run("project", "set", str(self.project), "system.cloud.connection_policy", policy)
        run(
            "project", "set", str(self.project), "system.automatic_connection",
            "true" if automatic else "false",
        )  # fmt: skip
        run(
            "deploy", str(self.project), "--server", self.server.url, "--password-stdin",
            "--fingerprint", self.server.fingerprint, stdin="service-secret\n",
        )  # fmt: skip
        self.policy = (policy, automatic)


@pytest.fixture(scope="module")
def house(tmp_path_factory: pytest.TempPathFactory) -> Iterator[House]:
    tmp = tmp_path_factory.mktemp("paths")
    server = ServerProcess(tmp / "data", free_port(), tmp / "server.log")
    server.start()
    local = Forwarder(("127.0.0.1", server.port), "127.0.0.2").start()
    cloud = Forwarder(("127.0.0.1", server.port), "127.0.0.3").start()
    try:
        project = project_with_objects(tmp)
        run("project", "set", str(project), "system.cloud.connection_policy", "local_and_cloud")
        deploy_first(project, server)
        config = tmp / "alice"
        run(
            "connect", f"https://127.0.0.2:{local.port}", "--username", "alice",
            "--password-stdin", "--fingerprint", server.fingerprint, "--config", str(config),
            stdin="alice-password\n",
        )  # fmt: skip
        loaded = ClientConfig.load(config)
        assert loaded.server.connection_policy == "local_and_cloud"  # from /api/info
        # What /api/info or the join link gives once the server's cloud link is up.
        loaded.server = dataclasses.replace(
            loaded.server,
            cloud_url=f"https://maison.test:{cloud.port}",
            cloud_relay=cloud.address,
        )
        loaded.save()
        yield House(server, project, local, cloud, config)
    finally:
        local.stop()
        cloud.stop()
        server.stop()


@pytest.fixture(autouse=True)
def _healthy(house: House) -> Iterator[None]:
    yield
    house.local.restore()
    house.cloud.restore()


def _app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """test root"""

    client_cmd.register(root)
    return root


def _whoami(house: House, *args: str) -> Any:
    result = CliRunner().invoke(_app(), ["whoami", "--json", "--config", str(house.config), *args])
    return result


async def _via(house: House) -> tuple[str, int, int]:
    """Sign in as the recorded policy says: the path, and how many connections each
    forwarder took meanwhile."""
    before = (house.local.accepted, house.cloud.accepted)
    config = ClientConfig.load(house.config)
    async with await sign_in(config) as session:
        via = session.via
    return via, house.local.accepted - before[0], house.cloud.accepted - before[1]


async def test_each_policy_takes_its_path(house: House) -> None:
    via, on_local, on_cloud = await _via(house)
    assert (via, on_cloud) == ("local", 0) and on_local >= 1
    for policy, expected in (("cloud", "cloud"), ("local", "local"), ("local_and_cloud", "local")):
        house.set_policy(policy)
        await _via(house)  # learns the policy from /api/info
        assert ClientConfig.load(house.config).server.connection_policy == policy
        via, on_local, on_cloud = await _via(house)
        assert via == expected, policy
        assert (on_local, on_cloud) == ((0, on_cloud) if expected == "cloud" else (on_local, 0))
        assert (on_cloud if expected == "cloud" else on_local) >= 1


async def test_happy_eyeballs_takes_cloud_when_local_accepts_but_never_answers(
    house: House,
) -> None:
    house.set_policy("local_and_cloud")
    house.local.cut()
    started = time.monotonic()
    via, on_local, on_cloud = await _via(house)
    elapsed = time.monotonic() - started
    assert via == "cloud" and on_local >= 1 and on_cloud >= 1
    assert elapsed < 1.0, elapsed


def test_path_forces_one_and_a_missing_cloud_url_says_how_to_get_one(
    house: House, tmp_path: Path
) -> None:
    house.set_policy("local_and_cloud")
    for path in ("cloud", "local"):
        result = _whoami(house, "--path", path)
        assert result.exit_code == 0, result.output
        assert json.loads(result.stdout)["via"] == path
    bad = _whoami(house, "--path", "moon")
    assert bad.exit_code == 2 and "local or cloud" in bad.output

    # A config of before the cloud: only a URL, local only.
    old = tmp_path / "old"
    old.mkdir(mode=0o700)
    for item in house.config.iterdir():
        (old / item.name).write_bytes(item.read_bytes())
        (old / item.name).chmod(0o600)
    data = json.loads((old / "config.json").read_text())
    for key in ("cloud", "connection_policy", "automatic_connection"):
        del data["server"][key]
    del data["settings"]
    (old / "config.json").write_text(json.dumps(data))
    assert ClientConfig.load(old).server.cloud_url is None
    result = CliRunner().invoke(
        _app(), ["whoami", "--json", "--config", str(old), "--path", "cloud"]
    )
    assert result.exit_code == 1
    message = json.loads(result.stdout)["error"]["message"]
    assert "No cloud path is known" in message and "join link" in message


def test_automatic_connection_off_without_a_terminal_is_a_usage_error(house: House) -> None:
    house.set_policy("local_and_cloud", automatic=False)
    try:
        assert _whoami(house, "--path", "local").exit_code == 0  # learns automatic: false
        refused = _whoami(house)
        assert refused.exit_code == 2, refused.output
        assert "--path" in refused.output and "Automatic connection is off" in refused.output
        assert json.loads(_whoami(house, "--path", "cloud").stdout)["via"] == "cloud"
    finally:
        house.set_policy("local_and_cloud")
        _whoami(house, "--path", "local")


async def test_a_cloud_path_with_another_certificate_is_refused(house: House) -> None:
    cert, key = generate_self_signed(["maison.test"], now=datetime.now(UTC))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    certfile = house.config.parent / "impostor.pem"
    certfile.write_bytes(cert + key)
    ctx.load_cert_chain(certfile)
    impostor = Forwarder(("127.0.0.1", 1), "127.0.0.4", tls_server=ctx).start()
    try:
        config = ClientConfig.load(house.config)
        config.server = dataclasses.replace(config.server, cloud_relay=impostor.address)
        with pytest.raises(CertificateMismatch) as refused:
            await sign_in(config, plan=Plan(("cloud",), forced=True))
        assert "maison.test" in refused.value.message
    finally:
        impostor.stop()


async def _wait(condition: Any, within: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > within:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def test_watch_fails_over_to_cloud_and_comes_back_to_local(house: House) -> None:
    house.set_policy("local_and_cloud")
    config = ClientConfig.load(house.config)
    config.settings = ClientSettings(back_to_local_probe_s=0.5)
    switches: list[str] = []
    seen: list[dict[str, Any]] = []
    follower = LiveFollower(
        config, Plan(("local", "cloud")), on_switch=lambda n, o, w: switches.append(n)
    )
    # Commands go straight to the server (not through either path).
    direct = ClientConfig.load(house.config)
    direct.server = dataclasses.replace(direct.server, url=house.server.url)
    async with follower, await sign_in(direct, plan=Plan(("local",))) as operator:

        async def read() -> None:
            async for message in follower:
                if message.get("type") == "state":
                    seen.append(message)

        reader = asyncio.create_task(read())
        try:
            assert follower.session.via == "local"
            await _wait(lambda: follower.warm is not None, 5, "the cloud path warm")

            async def light(on: bool) -> None:
                await operator.api.command("light", "on", on)
                await _wait(
                    lambda: any(
                        m["object"] == "light" and m["state"].get("on") is on for m in seen
                    ),
                    5,
                    f"light {on} seen",
                )

            await light(True)
            house.local.cut()
            cut = time.monotonic()
            await operator.api.command("light", "on", False)  # during the cut
            await _wait(lambda: switches[-1:] == ["cloud"], 3, "switch to cloud")
            assert time.monotonic() - cut < 2.0
            await light(False)  # the change made during the cut is seen
            await operator.api.command("dimmer", "brightness", 30)
            await _wait(
                lambda: any(m["object"] == "dimmer" for m in seen), 5, "states flow via cloud"
            )
            house.local.restore()
            back = await _wait(lambda: switches[-1:] == ["local"], 30, "back to local")
            assert follower.session.via == "local" and back < 30
            await light(True)
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reader
