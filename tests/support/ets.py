"""The ETS sample exports in ``shared/ets`` next to the repository.

Each sample is parsed once per session (a password-protected export costs a key
derivation); tests get the parsed dict and never change it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from domogate.storage.ets import read_export

SAMPLES = Path(__file__).parents[2] / ".." / "shared" / "ets"
XKNX = "xknx_test_project.knxproj"
XKNX_PASSWORD = "test"  # the public sample's archive password (shared/ets/README.md)
FUNCTIONS = "testprojekt-ets6-functions.knxproj"
TWO_LEVEL = "ets6_two_level.knxproj"


def sample(name: str) -> Path:
    path = SAMPLES / name
    if not path.is_file():
        pytest.skip(f"ETS sample {name} not found in {SAMPLES} (shared/ets next to the repo)")
    return path


def parse(name: str, password: str | None = None, language: str | None = None) -> Any:
    return read_export(sample(name), password=password, language=language).data


def text_of(directory: Path) -> str:
    return (directory / "project.yaml").read_text(encoding="utf-8")
