"""`domogate demo --host 0.0.0.0` and `domogate server --host 0.0.0.0` on a machine with a
LAN address (a network namespace of the test's own: 10.77.0.2): the join link and QR code
carry that address, with the certificate made before (same fingerprint, not regenerated),
and the output says which address and why; a client in the namespace joins with the link.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from domogate.core import joinlink
from tests.support.netns import LAN_ADDRESS, NetNamespace
from tests.support.processes import free_port, new_project, run, run_json
from tests.support.until import wait_for

pytestmark = pytest.mark.slow

EVERY = "0.0.0.0"  # noqa: S104 - what the test asks the server to listen on


@pytest.fixture
def netns() -> Iterator[NetNamespace]:
    ns = NetNamespace().start()
    try:
        yield ns
    finally:
        ns.stop()


def _existing_data(tmp_path: Path) -> tuple[Path, str, bytes, str]:
    """A data folder made before (certificate for localhost only): its fingerprint, its
    certificate's PEM, its setup code."""
    data = tmp_path / "data"
    code = run("server", "setup-code", "--data", str(data)).stdout.strip()
    fingerprint = run_json("server", "info", "--data", str(data))["fingerprint"]
    return data, fingerprint, (data / "tls" / "cert.pem").read_bytes(), code


def _stop(proc: subprocess.Popen[bytes]) -> int:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
    return proc.returncode


def _output_once(log: Path, proc: subprocess.Popen[bytes], marker: str) -> str:
    """The log once it holds ``marker`` (or the process ended)."""

    def ready() -> str:
        text = log.read_text(errors="replace") if log.exists() else ""
        return text if marker in text or proc.poll() is not None else ""

    text: str = wait_for(ready, f"{marker!r} in the output")
    assert proc.poll() is None, text
    return text


def _once_ok(
    ns: NetNamespace, what: str, *args: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """``domogate ARGS`` in the namespace, again until it succeeds (the server's port is
    bound before its banner, uvicorn accepts a moment later)."""

    def attempt() -> subprocess.CompletedProcess[str] | None:
        r = ns.cli(*args, stdin=stdin)
        return r if r.returncode == 0 else None

    done: subprocess.CompletedProcess[str] = wait_for(attempt, what)
    return done


def _says_the_address_and_the_certificate(text: str) -> None:
    assert (
        f"join links use {LAN_ADDRESS}, this machine's LAN address; "
        "pass --advertise ADDRESS to choose another"
    ) in text, text
    assert f"the certificate does not name {LAN_ADDRESS}" in text, text
    assert "a browser opening the link asks once to accept it" in text, text


def test_the_demo_on_every_address_gives_a_link_a_phone_can_use(
    tmp_path: Path, netns: NetNamespace
) -> None:
    data, fingerprint, cert, _ = _existing_data(tmp_path)
    port = free_port()
    log = tmp_path / "demo.log"
    demo = netns.popen(
        ["demo", "--host", EVERY, "--port", str(port), "--data", str(data)], str(log)
    )
    try:
        text = _output_once(log, demo, "Press Ctrl-C")
        _says_the_address_and_the_certificate(text)
        link = re.search(r"join link: (\S+)", text)
        assert link, text
        parsed = joinlink.parse(link.group(1))
        assert parsed.base_url == f"https://{LAN_ADDRESS}:{port}"
        assert parsed.fingerprint == fingerprint  # the certificate made before
        assert f"Open https://{LAN_ADDRESS}:{port}/" in text

        # A phone on the LAN (a client in the namespace) joins with the link as printed.
        guest = tmp_path / "guest"
        joined = _once_ok(
            netns, "the demo to accept a connection",
            "connect", link.group(1), "--name", "Phone", "--json", "--config", str(guest),
        )  # fmt: skip
        result = json.loads(joined.stdout)
        assert result["server"]["url"] == f"https://{LAN_ADDRESS}:{port}"
        assert result["path"] == "local"
    finally:
        code = _stop(demo)
    assert code == 0, log.read_text()
    assert (data / "tls" / "cert.pem").read_bytes() == cert  # never regenerated


def test_the_server_on_every_address_makes_links_for_the_lan(
    tmp_path: Path, netns: NetNamespace
) -> None:
    data, fingerprint, cert, setup_code = _existing_data(tmp_path)
    project = new_project(tmp_path)
    port = free_port()
    log = tmp_path / "server.log"
    server = netns.popen(
        ["server", "--host", EVERY, "--port", str(port), "--data", str(data),
         "--log-level", "warning"],
        str(log),
    )  # fmt: skip
    try:
        text = _output_once(log, server, "join links use")
        assert f"listening on https://{EVERY}:{port} (every address of this machine)" in text
        _says_the_address_and_the_certificate(text)
        # The admin works on the server's own machine (loopback); the links they make
        # carry the LAN address, for phones.
        local = f"https://127.0.0.1:{port}"
        _once_ok(
            netns, "the first deploy",
            "deploy", str(project), "--server", local, "--setup-code", setup_code,
            "--fingerprint", fingerprint,
        )  # fmt: skip
        admin = tmp_path / "admin"
        r = netns.cli(
            "connect", local, "--username", "alice", "--password-stdin", "--fingerprint",
            fingerprint, "--config", str(admin), stdin="alice-password\n",
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        png = tmp_path / "qr.png"
        added = netns.cli(
            "clients", "add", "--group", "family", "--json", "--qr-png", str(png),
            "--config", str(admin),
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        link = json.loads(added.stdout)["join_link"]
        assert [b.text for b in zxingcpp.read_barcodes(Image.open(png))] == [link]
        parsed = joinlink.parse(link)
        assert parsed.base_url == f"https://{LAN_ADDRESS}:{port}"
        assert parsed.fingerprint == fingerprint
    finally:
        _stop(server)
    assert (data / "tls" / "cert.pem").read_bytes() == cert
