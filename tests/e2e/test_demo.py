"""`domogate demo` brings up a working server with an admin login and a fresh OTP."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support.processes import CLI, cli_env, free_port, run, run_json

pytestmark = pytest.mark.slow


def test_demo_prints_a_usable_admin_login_and_otp(tmp_path: Path) -> None:
    port = free_port()
    out_path = tmp_path / "demo.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(
            [*CLI, "demo", "--port", str(port)], stdout=out, stderr=subprocess.STDOUT, env=cli_env()
        )
    try:
        deadline = time.monotonic() + 60
        while "Press Ctrl-C to stop." not in out_path.read_text():
            assert proc.poll() is None, out_path.read_text()
            assert time.monotonic() < deadline, out_path.read_text()
            time.sleep(0.1)
        text = out_path.read_text()
        password = re.search(r"username admin\s+password (\S+)", text)
        link = re.search(r"join link: (\S+)", text)
        fp = re.search(r"fingerprint: ([0-9a-f]{64})", text)
        temp = re.search(r"data folder: (\S+)", text)
        assert password and link and fp and temp, text
        url = f"https://127.0.0.1:{port}"
        admin = tmp_path / "admin"
        deadline = time.monotonic() + 30
        while True:  # the banner is printed just before uvicorn binds
            r = run(
                "connect",
                url,
                "--username",
                "admin",
                "--password-stdin",
                "--fingerprint",
                fp.group(1),
                "--config",
                str(admin),
                stdin=password.group(1) + "\n",
                check=False,
            )
            if r.returncode == 0 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert r.returncode == 0, r.stderr
        run("connect", link.group(1), "--name", "Visitor", "--config", str(tmp_path / "guest"))
        clients = run_json("clients", "list", "--config", str(admin))["clients"]
        assert any(c["label"] == "Visitor" for c in clients)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
    assert proc.returncode == 0
    assert not Path(temp.group(1)).exists()  # the temporary demo data is cleaned up
