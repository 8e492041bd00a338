"""The cloud as a user meets it: a real ``domogate cloud serve``, a real ``domogate server``
linked to it, and ``domogate`` CLI clients going through the REAL relay.

The local path of the users' CLI configs is a TCP proxy on 127.0.0.2 in front of the
server's port (:class:`Gate`): the test stops it (connection refused: away from home) or
cuts it (a black hole: the Wi-Fi gone). The admin's config talks to the server directly.
One cloud and one server for the whole module.
"""

from __future__ import annotations

import dataclasses
import json
import queue
import ssl
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pytest
import zxingcpp
from PIL import Image

from domogate.client.config import ClientConfig, ClientSettings
from domogate.client.session import sign_in
from domogate.core import joinlink
from domogate.security.tls import generate_self_signed
from tests.support.cloudproc import CloudProcess
from tests.support.forwarder import Forwarder
from tests.support.objects_project import project_with_objects
from tests.support.processes import (
    CLI,
    ServerProcess,
    cli_env,
    connect_with_password,
    deploy_first,
    free_port,
    run,
)
from tests.support.until import wait_for

pytestmark = pytest.mark.slow

CLOUD_PASSWORD = "cloud-pass-91f3-never-logged"
OUTPUTS: list[str] = []  # every CLI output of the module, checked for the cloud password


def cli(
    *args: str, stdin: str | None = None, check: bool = True
) -> subprocess.CompletedProcess[str]:
    proc = run(*args, stdin=stdin, check=check)
    OUTPUTS.extend((proc.stdout, proc.stderr))
    return proc


def cli_json(*args: str, stdin: str | None = None) -> Any:
    return json.loads(cli(*args, "--json", stdin=stdin).stdout)


class Gate(Forwarder):
    """A :class:`Forwarder` that can also stop listening (connection refused) and listen
    again on the same port."""

    async def _listen(self) -> None:
        self._server = await self._start(self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _start(self, port: int) -> Any:
        import asyncio

        return await asyncio.start_server(self._handle, self.host, port, reuse_address=True)

    def stop_listening(self) -> None:
        def close() -> None:
            assert self._server is not None
            self._server.close()
            self._drop_all()

        self._call(close)

    def listen_again(self) -> None:
        import asyncio

        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.cutting = False

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


@dataclasses.dataclass
class Journey:
    tmp: Path
    cloud: CloudProcess
    server: ServerProcess
    project: Path
    local: Gate
    admin: Path  # alice's config, straight to the server
    name: str  # the installation's cloud name
    users: dict[str, Path] = dataclasses.field(default_factory=dict)

    def redeploy(self) -> None:
        cli(
            "deploy", str(self.project), "--server", self.server.url, "--password-stdin",
            "--fingerprint", self.server.fingerprint, stdin="service-secret\n",
        )  # fmt: skip

    def info(self) -> dict[str, Any]:
        with self.server.http() as c:
            body: dict[str, Any] = c.get("/api/info").json()
        OUTPUTS.append(json.dumps(body))
        return body


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journey]:
    tmp = tmp_path_factory.mktemp("journey")
    # At debug level: what is logged then must hold no secret either.
    cloud = CloudProcess(tmp / "cloud", free_port(), tmp / "cloud.log", ["--log-level", "debug"])
    server = ServerProcess(tmp / "data", free_port(), tmp / "server.log")
    local: Gate | None = None
    cloud.start()
    try:
        server.start()
        local = Gate(("127.0.0.1", server.port), "127.0.0.2").start()
        project = project_with_objects(tmp)
        fingerprint = cli_json("cloud", "info", "--data", str(cloud.data))["fingerprint"]
        for key, value in (
            ("system.cloud.address", f"127.0.0.1:{cloud.port}"),
            ("system.cloud.fingerprint", fingerprint),
            ("system.cloud.password", CLOUD_PASSWORD),
            ("system.cloud.enabled", "true"),
        ):
            cli("project", "set", str(project), key, value)
        deploy_first(project, server)
        name = cli("server", "cloud-name", "--data", str(server.data)).stdout.strip()
        admin = tmp / "alice"
        connect_with_password(server, "alice", "alice-password", admin)
        j = Journey(tmp, cloud, server, project, local, admin, name)
        wait_for(lambda: j.info()["paths"]["cloud"], "the server's cloud link")
        yield j
    finally:
        if local is not None:
            local.stop()
        server.stop()
        cloud.stop()


def _add(journey: Journey, *paths: str, qr: Path | None = None) -> dict[str, Any]:
    args = ["clients", "add", "--group", "family", "--config", str(journey.admin)]
    for p in paths:
        args += ["--allow", p]
    if qr is not None:
        args += ["--qr-png", str(qr)]
    added: dict[str, Any] = cli_json(*args)
    return added


def _whoami(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return cli("whoami", "--json", "--config", str(config), *args, check=check)


def _dana(journey: Journey) -> Path:
    if "dana" not in journey.users:
        pytest.skip("needs test_a_newcomer_away_from_home_enrols_through_the_cloud")
    return journey.users["dana"]


def test_a_newcomer_away_from_home_enrols_through_the_cloud(journey: Journey) -> None:
    png = journey.tmp / "dana.png"
    added = _add(journey, "local", "cloud", qr=png)
    link = added["join_link"]
    assert [b.text for b in zxingcpp.read_barcodes(Image.open(png))] == [link]
    parsed = joinlink.parse(link)
    assert parsed.cloud_url is not None and parsed.cloud_relay is not None
    assert parsed.cloud_url.startswith(f"https://{journey.name}.localhost:{journey.cloud.port}")
    assert parsed.cloud_relay == f"127.0.0.1:{journey.cloud.port}"

    # The link's local URL is the gate, which is down: the newcomer is away from home.
    away = link.replace(parsed.base_url, journey.local.url, 1)
    journey.local.stop_listening()
    try:
        config = journey.tmp / "dana"
        connected = cli_json("connect", away, "--name", "Dana", "--config", str(config))
        assert connected["via"] == "cloud" and connected["path"] == "cloud"
        journey.users["dana"] = config
        who = json.loads(_whoami(config, "--path", "cloud").stdout)
        assert who["path"] == "cloud" and who["via"] == "cloud"
        assert who["server"]["cloud_url"] == parsed.cloud_url
        # The server's policy is still `local`: without --path the CLI says local failed.
        failed = _whoami(config, check=False)
        assert failed.returncode == 1
        assert json.loads(failed.stdout)["error"]["code"] == "server_unreachable"
    finally:
        journey.local.listen_again()

    listed = cli_json("clients", "list", "--config", str(journey.admin))
    row = next(c for c in listed["clients"] if c["id"] == added["client"]["id"])
    assert row["name"] == "Dana" and row["path"] == "cloud", row
    audit = [
        json.loads(line)
        for line in cli("audit", "--json", "--config", str(journey.admin)).stdout.splitlines()
    ]
    redeemed = [e for e in audit if e["action"] == "otp.redeem" and e["outcome"] == "ok"]
    assert redeemed and redeemed[-1]["path"] == "cloud", redeemed
    # The client's own address (the CLI cannot bind a source address: 127.0.0.1 here,
    # carried by the relay's attach line, not the relay's pool connection's).
    assert redeemed[-1]["source"] == "127.0.0.1"


async def test_local_and_cloud_takes_local_and_falls_back_within_a_second(
    journey: Journey,
) -> None:
    config = _dana(journey)
    cli("project", "set", str(journey.project), "system.cloud.connection_policy", "local_and_cloud")
    journey.redeploy()
    _whoami(config)  # learns the policy on its local path
    assert ClientConfig.load(config).server.connection_policy == "local_and_cloud"
    assert json.loads(_whoami(config).stdout)["via"] == "local"

    for cut in (journey.local.stop_listening, journey.local.cut):
        cut()
        try:
            started = time.monotonic()
            async with await sign_in(ClientConfig.load(config)) as session:
                via, path = session.via, session.path
            elapsed = time.monotonic() - started
            assert (via, path) == ("cloud", "cloud") and elapsed < 1.0, (cut, elapsed)
            assert json.loads(_whoami(config).stdout)["via"] == "cloud"
        finally:
            if cut == journey.local.cut:
                journey.local.restore()
            else:
                journey.local.listen_again()
    assert json.loads(_whoami(config).stdout)["via"] == "local"


class Lines:
    """The lines of a pipe, read on a thread."""

    def __init__(self, pipe: IO[str]) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe: IO[str]) -> None:
        for line in pipe:
            self._queue.put(line)

    def wait(self, condition: Callable[[dict[str, Any]], bool], what: str, timeout: float) -> float:
        started = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - started)
            if left <= 0:
                raise AssertionError(f"{what}: not within {timeout} s; got {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            self.lines.append(line)
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and condition(message):
                return time.monotonic() - started


def test_watch_switches_to_the_cloud_and_back(journey: Journey) -> None:
    config = _dana(journey)
    loaded = ClientConfig.load(config)
    assert loaded.server.connection_policy == "local_and_cloud"
    loaded.settings = ClientSettings(back_to_local_probe_s=0.5)
    loaded.save()

    def light(on: bool) -> Callable[[dict[str, Any]], bool]:
        return lambda m: m.get("object") == "light" and m.get("state", {}).get("on") is on

    def set_light(on: bool) -> None:
        cli("set", "light", "on" if on else "off", "--config", str(journey.admin))

    set_light(False)
    proc = subprocess.Popen(
        [*CLI, "watch", "--json", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(),
    )
    assert proc.stdout is not None and proc.stderr is not None
    states, notes = Lines(proc.stdout), Lines(proc.stderr)
    try:
        # the other path warm: Dana's second live session, through the relay (opened once
        # the first, on local, is up: a change from now on is seen)
        wait_for(lambda: _online_on_cloud(journey), "the warm cloud path")
        set_light(True)
        states.wait(light(True), "light on, seen on local", 10)

        journey.local.cut()
        cut = time.monotonic()
        set_light(False)  # during the cut, through the admin's own path
        notes.wait(lambda m: m.get("path") == "cloud", "switch to cloud", 5)
        assert time.monotonic() - cut < 2.0
        states.wait(light(False), "the change made during the cut", 5)

        journey.local.restore()
        notes.wait(lambda m: m.get("path") == "local", "back to local", 20)
        set_light(True)
        states.wait(light(True), "light on, back on local", 10)
    finally:
        journey.local.restore()
        proc.terminate()
        out, err = proc.communicate(timeout=15)
        OUTPUTS.extend(states.lines + notes.lines + [out, err])


def _online_on_cloud(journey: Journey) -> bool:
    """Whether the admin's client list shows Dana's device online, last signed in on the
    cloud path (the watch's warm second session)."""
    listed = cli_json("clients", "list", "--config", str(journey.admin))
    dana = next(c for c in listed["clients"] if c.get("name") == "Dana")
    return any(d.get("online") and d.get("path") == "cloud" for d in dana["devices"])


def test_a_user_allowed_only_local_is_refused_on_the_cloud(journey: Journey) -> None:
    added = _add(journey, "local")
    assert "c=" not in added["join_link"].split("#", 1)[1]
    config = journey.tmp / "erin"
    cli("connect", added["join_link"], "--name", "Erin", "--config", str(config))
    assert json.loads(_whoami(config).stdout)["via"] == "local"
    assert ClientConfig.load(config).server.cloud_url  # learnt from /api/info
    refused = _whoami(config, "--path", "cloud", check=False)
    assert refused.returncode == 1
    assert json.loads(refused.stdout)["error"]["code"] == "path_not_allowed"
    plain = cli("whoami", "--config", str(config), "--path", "cloud", check=False)
    assert plain.returncode == 1
    assert plain.stderr.startswith("error: path_not_allowed: "), plain.stderr
    assert "through the cloud path (allowed: local)" in plain.stderr, plain.stderr
    assert "ask an admin" in plain.stderr, plain.stderr


class TerminatingRelay(Forwarder):
    """A "relay" that ends the client's TLS with its own certificate and talks TLS to the
    real relay itself (a man in the middle that could read everything)."""

    def __init__(self, relay: tuple[str, int], sni: str, tls_server: ssl.SSLContext) -> None:
        super().__init__(relay, "127.0.0.4", tls_server=tls_server)
        self.sni = sni

    async def _handle(self, reader: Any, writer: Any) -> None:
        import asyncio

        upstream = ssl.create_default_context()
        upstream.check_hostname = False
        upstream.verify_mode = ssl.CERT_NONE
        self.accepted += 1
        try:
            up_reader, up_writer = await asyncio.open_connection(
                *self.target, ssl=upstream, server_hostname=self.sni
            )
        except OSError:
            writer.close()
            return
        try:
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()


def test_a_relay_that_terminates_tls_is_refused(journey: Journey) -> None:
    config = _dana(journey)
    host = f"{journey.name}.localhost"
    cert, key = generate_self_signed([host], now=datetime.now(UTC))
    pem = journey.tmp / "impostor.pem"
    pem.write_bytes(cert + key)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pem)
    impostor = TerminatingRelay(("127.0.0.1", journey.cloud.port), host, ctx).start()
    try:
        copy = journey.tmp / "dana-via-impostor"
        copy.mkdir(mode=0o700)
        for item in config.iterdir():
            (copy / item.name).write_bytes(item.read_bytes())
            (copy / item.name).chmod(0o600)
        loaded = ClientConfig.load(copy)
        loaded.server = dataclasses.replace(loaded.server, cloud_relay=impostor.address)
        loaded.save()
        refused = _whoami(copy, "--path", "cloud", check=False)
        assert refused.returncode == 1, refused.stdout
        error = json.loads(refused.stdout)["error"]
        assert error["code"] == "certificate_mismatch", error
        plain = cli("whoami", "--config", str(copy), "--path", "cloud", check=False)
        assert plain.returncode == 1
        assert "pinned" in plain.stderr and "join link" in plain.stderr, plain.stderr
    finally:
        impostor.stop()


def test_the_cloud_password_is_in_no_log_and_no_answer(journey: Journey) -> None:
    journey.info()
    assert OUTPUTS
    pieces = (CLOUD_PASSWORD[:12], CLOUD_PASSWORD[-12:])  # debug logs cut long messages
    for text in (*OUTPUTS, journey.server.log(), journey.cloud.log()):
        assert not [p for p in pieces if p in text]
