"""`domogate project import-ets` end to end: the real CLI in a subprocess."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import select
import subprocess
import termios
import time
from pathlib import Path

from tests.support.ets import FUNCTIONS, TWO_LEVEL, XKNX, XKNX_PASSWORD, sample
from tests.support.processes import CLI, cli_env, run, run_json


def new_project(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    run("project", "new", str(directory), "--name", "Home")
    return directory


def test_import_prints_a_summary_and_merges_on_the_second_run(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    file = str(sample(XKNX))
    first = run(
        "project", "import-ets", str(home), file, "--password-stdin", stdin=XKNX_PASSWORD + "\n"
    )
    out = first.stdout
    assert "18 objects created, 0 merged, 0 unchanged, 1 skipped; 3 pages created" in out
    assert "temperature_2-0-1: sensor 'Temperature' on page neue-hauptgruppe_2" in out
    assert "2/1/1 'Not linked to a comm object': no datapoint type" in out
    assert first.stderr == ""  # no progress display when stderr is not a terminal
    text = (home / "project.yaml").read_text(encoding="utf-8")

    second = run(
        "project", "import-ets", str(home), file, "--password-stdin", stdin=XKNX_PASSWORD + "\n"
    )
    assert "0 objects created, 0 merged, 18 unchanged, 1 skipped" in second.stdout
    assert "nothing to change" in second.stdout
    assert (home / "project.yaml").read_text(encoding="utf-8") == text
    assert run_json("project", "validate", str(home))["objects"] == 18


def test_json_gives_machine_readable_counts(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    report = run_json(
        "project", "import-ets", str(home), str(sample(FUNCTIONS)), "--language", "de-DE"
    )
    assert report["counts"] == {
        "created": 1,
        "merged": 0,
        "unchanged": 0,
        "skipped": 0,
        "pages_created": 1,
    }
    assert report["written"] is True
    assert report["created"][0]["type"] == "switch"
    assert report["pages"] == [{"id": "livingroom", "title": "Livingroom"}]
    two = run_json("project", "import-ets", str(home), str(sample(TWO_LEVEL)))
    assert two["counts"]["skipped"] == 2 and two["written"] is False
    assert two["skipped"][0] == {"address": "0/1", "name": "Foo", "reason": "no datapoint type"}


def test_wrong_or_missing_password(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    before = (home / "project.yaml").read_bytes()
    wrong = run(
        "project", "import-ets", str(home), str(sample(XKNX)), "--password-stdin",
        stdin="guess\n", check=False,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert wrong.stderr.startswith("error: import_failed: wrong password for ")
    assert "guess" not in wrong.stderr + wrong.stdout
    missing = run(
        "project", "import-ets", str(home), str(sample(XKNX)), "--json", stdin="", check=False
    )
    assert missing.returncode == 1
    error = json.loads(missing.stdout)["error"]
    assert error["code"] == "import_failed"
    assert error["details"]["reason"] == "password_required"
    assert (home / "project.yaml").read_bytes() == before


def test_missing_file_and_missing_project(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    missing = run("project", "import-ets", str(home), str(tmp_path / "x.knxproj"), check=False)
    assert missing.returncode == 1
    assert "error: import_failed:" in missing.stderr and "not found" in missing.stderr
    no_project = run(
        "project", "import-ets", str(tmp_path / "nowhere"), str(sample(TWO_LEVEL)), check=False
    )
    assert no_project.returncode == 1
    assert "error: invalid_input:" in no_project.stderr


def on_terminal(
    args: list[str], *, stdin_text: str | None = None, answer: tuple[str, str] | None = None
) -> tuple[int, str, str]:
    """Run the CLI with stderr (and, without ``stdin_text``, stdin) on a pseudo-terminal.
    ``answer`` = (prompt, reply): type ``reply`` once ``prompt`` appears on the terminal.
    Returns the exit status, stdout and what the terminal showed."""
    controller, terminal = pty.openpty()

    def controlling_terminal() -> None:  # in the child: the pty is its terminal (/dev/tty)
        fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(
        [*CLI, *args],
        stdin=subprocess.PIPE if stdin_text is not None else terminal,
        stdout=subprocess.PIPE,
        stderr=terminal,
        env=cli_env(TERM="xterm", COLUMNS="120"),
        start_new_session=True,
        preexec_fn=controlling_terminal,
    )
    os.close(terminal)
    assert proc.stdout is not None
    if proc.stdin is not None:
        proc.stdin.write((stdin_text or "").encode())
        proc.stdin.close()
    seen = b""
    answered = False
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready, _, _ = select.select([controller], [], [], 0.5)
        if ready:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
            if answer and not answered and answer[0].encode() in seen:
                # type only once the prompt turned echo off (it flushes earlier input)
                while termios.tcgetattr(controller)[3] & termios.ECHO:
                    time.sleep(0.02)
                os.write(controller, answer[1].encode() + b"\n")
                answered = True
        elif proc.poll() is not None:
            break
    os.close(controller)
    with proc.stdout:
        stdout = proc.stdout.read().decode()
    return proc.wait(timeout=30), stdout, seen.decode(errors="replace")


def test_progress_is_shown_on_a_terminal(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    status, stdout, shown = on_terminal(
        ["project", "import-ets", str(home), str(sample(XKNX)), "--password-stdin"],
        stdin_text=XKNX_PASSWORD + "\n",
    )
    assert status == 0, shown
    assert "reading xknx_test_project.knxproj" in shown
    assert "18 objects created" in stdout  # the summary stays on stdout


def test_the_password_is_asked_on_a_terminal(tmp_path: Path) -> None:
    home = new_project(tmp_path)
    status, stdout, shown = on_terminal(
        ["project", "import-ets", str(home), str(sample(XKNX))],
        answer=("Password of xknx_test_project.knxproj", XKNX_PASSWORD),
    )
    assert status == 0, shown
    after_prompt = shown.split("Password of xknx_test_project.knxproj:", 1)[1]
    assert not after_prompt.lstrip().startswith(XKNX_PASSWORD)  # typed, not echoed
    assert "18 objects created" in stdout
