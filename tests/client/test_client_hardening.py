"""Security fixes of the client: enrolment switch, plain HTTP, hostile server answers,
QR files, key file modes, server id checks.

The "server" here is an ``httpx.MockTransport`` plugged into :class:`ServerApi`: each test
says what it answers, and the CLI commands run against it through ``CliRunner``.
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import typer
from typer.testing import CliRunner

from domogate.cli import client_cmd
from domogate.client import config as config_mod
from domogate.client import connector as connector_mod
from domogate.client import enrolment as enrol_mod
from domogate.client import session as session_mod
from domogate.client.api import ServerApi, error_from_response, parse_jsonl
from domogate.client.config import ClientConfig, Identity, ServerEntry
from domogate.client.enrolment import enrol
from domogate.client.session import require_secure_transport, sign_in
from domogate.core import devicekeys
from domogate.errors import ClientError, DomogateError, InvalidInput, RateLimited

SERVER_ID = "srv-1"
URL = "https://maison.test:7550"
HTTP_URL = "http://maison.test:7550"
LINK = "https://maison.test:7550/join#v=1&s=srv-1&otp=ACDEF-GHJKL"


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def _config(
    directory: Path,
    device_id: str = "dev-1",
    *,
    url: str = URL,
    insecure_http: bool = False,
) -> ClientConfig:
    return ClientConfig(
        directory=directory,
        server=ServerEntry(
            url=url,
            server_id=SERVER_ID,
            name="Maison",
            fingerprint=None,
            insecure_http=insecure_http,
        ),
        device=Identity(id=device_id, name="box (cli)"),
        user=Identity(id="usr-1", name="alice"),
        private_key=devicekeys.generate_private_key(),
    )


def _public(cfg: ClientConfig) -> str:
    return devicekeys.public_key_of(cfg.private_key)


# --- a fake server --------------------------------------------------------------------------


def authenticated(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session": {"token": "tok-1", "expires_at": "2030-01-01T00:00:00Z"},
        "user": {"id": "usr-1", "name": "alice", "group": "family", "admin": True},
        "device": {"id": "dev-1", "name": "box (cli)"},
        "server_id": SERVER_ID,
        "path": "local",
    }
    for key, value in changes.items():
        if value is ...:
            del body[key]
        else:
            body[key] = value
    return body


class FakeServer:
    """Canned answers by path; records every request path."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.routes: dict[str, Callable[[httpx.Request], httpx.Response]] = {
            "/api/info": lambda r: httpx.Response(200, json={"server_id": SERVER_ID}),
            "/api/auth/challenge": lambda r: httpx.Response(200, json={"challenge": "c-1"}),
            "/api/auth/device": lambda r: httpx.Response(200, json=authenticated()),
            "/api/auth/otp": lambda r: httpx.Response(200, json=authenticated()),
            "/api/auth/logout": lambda r: httpx.Response(204),
        }

    def answer(self, path: str, body: Any = None, *, text: str | None = None) -> None:
        if text is not None:
            self.routes[path] = lambda r: httpx.Response(200, text=text)
        else:
            self.routes[path] = lambda r: httpx.Response(200, json=body)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request.url.path)
        route = self.routes.get(request.url.path)
        if route is None:
            return httpx.Response(404, json={"error": {"code": "not_found", "message": "?"}})
        return route(request)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeServer:
    server = FakeServer()
    patched = functools.partial(ServerApi, transport=httpx.MockTransport(server.handle))
    monkeypatch.setattr(session_mod, "ServerApi", patched)
    monkeypatch.setattr(connector_mod, "ServerApi", patched)  # sign-in opens its path there
    monkeypatch.setattr(enrol_mod, "ServerApi", patched)  # and connect enrols there
    return server


def _run(app: typer.Typer, *args: str, stdin: str | None = None) -> Any:
    result = CliRunner().invoke(app, list(args), input=stdin)
    # Never a traceback: a crash would leave an exception other than SystemExit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exc_info
    return result


@pytest.fixture
def enrolled(tmp_path: Path) -> Path:
    folder = tmp_path / "cfg"
    _config(folder).save()
    return folder


# --- 1. switching enrolments in one step ----------------------------------------------------


def test_each_enrolment_has_its_own_files_and_the_previous_ones_go(tmp_path: Path) -> None:
    first = _config(tmp_path, "dev-a")
    first.save()
    assert (tmp_path / "device-key-dev-a.pem").exists()
    second = _config(tmp_path, "dev-b")
    second.save()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [".lock", "config.json", "device-key-dev-b.pem"]
    data = json.loads((tmp_path / "config.json").read_text())
    assert data["files"] == {"device_key": "device-key-dev-b.pem", "server_cert": None}
    loaded = ClientConfig.load(tmp_path)
    assert loaded.device.id == "dev-b"
    assert _public(loaded) == _public(second)


def test_an_interrupted_enrolment_leaves_the_previous_one_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _config(tmp_path, "dev-a")
    first.save()
    real_write = config_mod.write_private_file

    def crash_before_the_switch(path: Path, data: bytes) -> None:
        if path.name == "config.json":
            raise OSError(28, "No space left on device")
        real_write(path, data)

    monkeypatch.setattr(config_mod, "write_private_file", crash_before_the_switch)
    with pytest.raises(OSError):
        _config(tmp_path, "dev-b").save()
    monkeypatch.undo()
    # The new key was written beside, under its own name: the old pair still matches.
    assert (tmp_path / "device-key-dev-b.pem").exists()
    loaded = ClientConfig.load(tmp_path)
    assert loaded.device.id == "dev-a"
    assert _public(loaded) == _public(first)
    # The next enrolment cleans the leftovers.
    _config(tmp_path, "dev-c").save()
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        ".lock",
        "config.json",
        "device-key-dev-c.pem",
    ]


def test_concurrent_saves_never_mix_key_and_config(tmp_path: Path) -> None:
    configs = [_config(tmp_path, f"dev-{i}") for i in range(8)]
    threads = [threading.Thread(target=c.save) for c in configs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    loaded = ClientConfig.load(tmp_path)
    winner = next(c for c in configs if c.device.id == loaded.device.id)
    assert _public(loaded) == _public(winner)
    keys = [p.name for p in tmp_path.iterdir() if p.name.startswith("device-key")]
    assert keys == [f"device-key-{loaded.device.id}.pem"]


def test_save_waits_for_the_folder_lock(tmp_path: Path) -> None:
    tmp_path.mkdir(exist_ok=True)
    fd = os.open(tmp_path / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    thread = threading.Thread(target=_config(tmp_path, "dev-x").save)
    try:
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()
        assert not (tmp_path / "config.json").exists()
    finally:
        os.close(fd)
    thread.join(5)
    assert not thread.is_alive()
    assert ClientConfig.load(tmp_path).device.id == "dev-x"


def test_the_old_layout_is_still_read(tmp_path: Path) -> None:
    cfg = _config(tmp_path)
    cfg.save()
    data = json.loads((tmp_path / "config.json").read_text())
    del data["files"]
    del data["server"]["insecure_http"]
    (tmp_path / "config.json").write_text(json.dumps(data))
    os.rename(tmp_path / "device-key-dev-1.pem", tmp_path / "device-key.pem")
    loaded = ClientConfig.load(tmp_path)
    assert _public(loaded) == _public(cfg)
    assert loaded.server.insecure_http is False


def test_a_strange_device_id_never_names_a_file_outside(tmp_path: Path) -> None:
    folder = tmp_path / "cfg"
    cfg = _config(folder, "../../evil/x")
    cfg.save()
    assert not (tmp_path / "evil").exists()
    [key] = [p for p in folder.iterdir() if p.name.startswith("device-key-")]
    assert "/" not in key.name and ".." not in key.name
    assert ClientConfig.load(folder).device.id == "../../evil/x"


def test_file_names_in_the_config_must_stay_in_the_folder(enrolled: Path) -> None:
    data = json.loads((enrolled / "config.json").read_text())
    data["files"]["device_key"] = "../outside.pem"
    (enrolled / "config.json").write_text(json.dumps(data))
    with pytest.raises(ClientError, match="damaged"):
        ClientConfig.load(enrolled)


# --- 7. the key file's mode -----------------------------------------------------------------


def test_a_key_readable_by_others_is_refused(enrolled: Path) -> None:
    key = enrolled / "device-key-dev-1.pem"
    os.chmod(key, 0o644)
    with pytest.raises(ClientError) as info:
        ClientConfig.load(enrolled)
    assert f"chmod 600 {key}" in info.value.message
    os.chmod(key, 0o600)
    assert ClientConfig.load(enrolled).device.id == "dev-1"


# --- 2. plain HTTP only with --insecure-http ------------------------------------------------


def test_plain_http_needs_the_flag() -> None:
    with pytest.raises(InvalidInput, match="plain HTTP") as info:
        require_secure_transport(HTTP_URL, False)
    assert "--insecure-http" in info.value.message and "development" in info.value.message
    require_secure_transport(HTTP_URL, True)
    require_secure_transport(URL, False)


def test_connect_and_deploy_refuse_http_without_the_flag(app: typer.Typer, tmp_path: Path) -> None:
    cfg = ["--config", str(tmp_path / "cfg"), "--json"]
    for args in (
        ["connect", HTTP_URL, "--otp", "ACDEF-GHJKL", "--name", "A", *cfg],
        ["deploy", str(tmp_path), "--server", HTTP_URL, "--setup-code", "X", *cfg],
    ):
        result = _run(app, *args)
        assert result.exit_code == 1, result.output
        error = json.loads(result.stdout)["error"]
        assert error["code"] == "invalid_input"
        assert "plain HTTP" in error["message"] and "--insecure-http" in error["message"]
    assert not (tmp_path / "cfg").exists()


def test_the_flag_warns_and_is_remembered(
    app: typer.Typer, tmp_path: Path, fake: FakeServer
) -> None:
    folder = tmp_path / "cfg"
    args = ["connect", HTTP_URL, "--otp", "ACDEF-GHJKL", "--name", "A", "--config", str(folder)]
    result = _run(app, *args, "--insecure-http")
    assert result.exit_code == 0, result.output
    assert "WARNING: plain HTTP" in result.stderr
    assert json.loads((folder / "config.json").read_text())["server"]["insecure_http"] is True
    # Later commands work without the flag for this enrolment (and warn again).
    result = _run(app, "whoami", "--config", str(folder))
    assert result.exit_code == 0, result.output
    assert "alice" in result.stdout and "WARNING: plain HTTP" in result.stderr


async def test_a_plain_http_config_without_the_choice_is_refused(
    tmp_path: Path, fake: FakeServer
) -> None:
    _config(tmp_path, url=HTTP_URL).save()
    with pytest.raises(InvalidInput, match="--insecure-http"):
        await sign_in(ClientConfig.load(tmp_path))
    assert fake.requests == []


async def test_enrol_refuses_http_without_the_flag(tmp_path: Path, fake: FakeServer) -> None:
    with pytest.raises(InvalidInput, match="plain HTTP"):
        await enrol(HTTP_URL, tmp_path / "cfg", otp="ACDEF-GHJKL", name="A")
    assert fake.requests == []
    signed = await enrol(
        HTTP_URL, tmp_path / "cfg", otp="ACDEF-GHJKL", name="A", insecure_http=True
    )
    async with signed:
        assert signed.config.server.insecure_http is True


# --- 8. the server must say which server it is ----------------------------------------------


async def test_a_missing_server_id_is_a_mismatch(enrolled: Path, fake: FakeServer) -> None:
    fake.answer("/api/auth/device", authenticated(server_id=...))
    with pytest.raises(ClientError, match="no server id"):
        await sign_in(ClientConfig.load(enrolled))
    fake.answer("/api/auth/device", authenticated(server_id="other"))
    with pytest.raises(ClientError, match="not as the server"):
        await sign_in(ClientConfig.load(enrolled))


# --- 4. hostile or broken server answers ----------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        authenticated(session="tok"),
        authenticated(session={"token": 5}),
        authenticated(user="x"),
        authenticated(device=[1, 2]),
        authenticated(session=...),
    ],
)
async def test_a_malformed_sign_in_answer_is_a_clear_error_and_logs_out(
    enrolled: Path, fake: FakeServer, body: dict[str, Any]
) -> None:
    fake.answer("/api/auth/device", body)
    with pytest.raises(DomogateError, match="unexpected answer"):
        await sign_in(ClientConfig.load(enrolled))
    token = body.get("session")
    if isinstance(token, dict) and isinstance(token.get("token"), str):
        assert fake.requests[-1] == "/api/auth/logout"  # the session was ended


async def test_a_malformed_challenge_is_a_clear_error(enrolled: Path, fake: FakeServer) -> None:
    fake.answer("/api/auth/challenge", {"challenge": ["x"]})
    with pytest.raises(DomogateError, match="unexpected answer"):
        await sign_in(ClientConfig.load(enrolled))


@pytest.mark.parametrize(
    ("command", "path", "body"),
    [
        (["clients", "list"], "/api/clients", {"clients": "abc"}),
        (["clients", "list"], "/api/clients", {"clients": [1]}),
        (["clients", "list"], "/api/clients", {"clients": [{"id": "u", "devices": "xy"}]}),
        (["clients", "otp", "alice"], "/api/clients", {"clients": "abc"}),
        (["clients", "otp", "alice"], "/api/clients", {"clients": [{"name": "alice"}]}),
        (
            ["clients", "revoke", "alice", "--device", "d"],
            "/api/clients",
            {"clients": [{"id": "u", "name": "alice", "devices": "xy"}]},
        ),
        (["audit"], "/api/audit", {"events": "abc"}),
        (["audit"], "/api/audit", {"events": [1, 2]}),
        (["audit", "--user", "alice"], "/api/clients", {"clients": [[]]}),
    ],
)
def test_malformed_listings_never_crash_the_cli(
    app: typer.Typer,
    enrolled: Path,
    fake: FakeServer,
    command: list[str],
    path: str,
    body: Any,
) -> None:
    fake.answer(path, body)
    result = _run(app, *command, "--config", str(enrolled))
    assert result.exit_code == 1, result.output
    assert "unexpected answer" in result.stderr
    assert "Traceback" not in result.output


def test_malformed_error_bodies_become_errors() -> None:
    request = httpx.Request("GET", "https://h/api/x")
    for error in (
        {"code": 5, "message": ["x"], "details": "abc"},
        {"code": "rate_limited", "details": 5},
        {"code": "rate_limited", "details": {"retry_after": "soon"}},
        {"code": "not_found", "details": {"message": "dup", "1bad": 1}},
    ):
        response = httpx.Response(404, json={"error": error}, request=request)
        assert isinstance(error_from_response(response), DomogateError)
    limited = httpx.Response(
        429, json={"error": {"code": "rate_limited", "details": 5}}, request=request
    )
    assert isinstance(error_from_response(limited), RateLimited)


# --- 3. the audit export is re-encoded ------------------------------------------------------


def test_parse_jsonl_refuses_what_is_not_json_objects() -> None:
    assert parse_jsonl('{"a": 1}\n\n{"b": "\\u001b[31m"}\n') == [{"a": 1}, {"b": "\x1b[31m"}]
    for text in ('{"a": 1}\n\x1b]0;pwned\x07\n', '{"a": "\x1b[31m"}\n', "[1]\n", "{"):
        with pytest.raises(InvalidInput, match=r"[Mm]alformed audit export from the server"):
            parse_jsonl(text)


def test_audit_export_writes_no_raw_control_character(
    app: typer.Typer, enrolled: Path, fake: FakeServer
) -> None:
    fake.answer("/api/audit.jsonl", text='{"action": "x\\u001b[2J\\u009b", "n": 1}\n')
    result = _run(app, "audit", "--json", "--config", str(enrolled))
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.stdout and "\x9b" not in result.stdout
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"action": "x\x1b[2J\x9b", "n": 1}
    ]


def test_a_malformed_audit_export_is_an_error(
    app: typer.Typer, enrolled: Path, fake: FakeServer
) -> None:
    fake.answer("/api/audit.jsonl", text='{"ok": 1}\n\x1b[2Jnot json\n')
    result = _run(app, "audit", "--json", "--config", str(enrolled))
    assert result.exit_code == 1
    assert "\x1b" not in result.stdout
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_input"
    assert "malformed audit export from the server" in error["message"].lower()


# --- 5. QR files ----------------------------------------------------------------------------


@pytest.fixture
def qr_link() -> Iterator[str]:
    yield "https://maison.test:7550/join#v=1&s=srv-1&otp=ACDEF-GHJKL"


def test_qr_file_replaces_a_wide_existing_file_with_a_private_one(
    tmp_path: Path, qr_link: str
) -> None:
    png = tmp_path / "qr.png"
    png.write_bytes(b"old")
    os.chmod(png, 0o644)
    client_cmd.write_qr_files(qr_link, png=png)
    assert _mode(png) == 0o600
    assert png.read_bytes().startswith(b"\x89PNG")
    assert [p.name for p in tmp_path.iterdir()] == ["qr.png"]


def test_qr_file_never_writes_through_a_symbolic_link(tmp_path: Path, qr_link: str) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    os.chmod(victim, 0o644)
    svg = tmp_path / "qr.svg"
    svg.symlink_to(victim)
    client_cmd.write_qr_files(qr_link, svg=svg)
    assert victim.read_text() == "keep me"
    assert _mode(victim) == 0o644
    assert not svg.is_symlink()
    assert _mode(svg) == 0o600
    assert "<svg" in svg.read_text()
