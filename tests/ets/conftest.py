"""ETS import tests: the sample exports in ``shared/ets`` next to the repository.

Each sample is parsed once per session (a password-protected export costs a key
derivation); tests get the parsed dict and never change it. Helpers: ``tests.support.ets``.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from domogate.core.project import Project
from domogate.storage import projectfile
from tests.support.ets import FUNCTIONS, TWO_LEVEL, XKNX, XKNX_PASSWORD
from tests.support.ets import parse as _parse


@pytest.fixture(scope="session")
def xknx_parsed() -> dict[str, Any]:
    return dict(_parse(XKNX, XKNX_PASSWORD))


@pytest.fixture(scope="session")
def functions_parsed() -> dict[str, Any]:
    return dict(_parse(FUNCTIONS, language="de-DE"))


@pytest.fixture(scope="session")
def two_level_parsed() -> dict[str, Any]:
    return dict(_parse(TWO_LEVEL))


@pytest.fixture
def xknx(xknx_parsed: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(xknx_parsed)


@pytest.fixture
def project_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "home"
    projectfile.write_new_project(directory, Project(name="Home"))
    return directory
