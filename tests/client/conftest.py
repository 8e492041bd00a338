"""Fixtures shared by the client tests."""

from __future__ import annotations

import pytest
import typer

from domogate.cli import client_cmd


@pytest.fixture
def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def _root() -> None:
        """test root"""

    client_cmd.register(root)
    return root
