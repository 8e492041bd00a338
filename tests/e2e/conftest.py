"""Fixtures for tests against real processes (helpers: ``tests.support.processes``)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import ServerProcess, free_port


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    sp = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    sp.start()
    yield sp
    sp.stop()
