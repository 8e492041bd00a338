"""Browser tests: Debian's chromium driven by Playwright against a real server process.

Helpers: ``tests.support.browser``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright import sync_api

from tests.support.browser import CHROMIUM, DESKTOP, House, house_project
from tests.support.deploy_auth import deploy_headers
from tests.support.processes import ServerProcess, free_port


@pytest.fixture
def house(tmp_path: Path) -> Iterator[House]:
    sp = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    sp.start()
    try:
        data = house_project()
        with sp.http() as c:
            r = c.post(
                "/api/deploy",
                json={"project": data},
                headers=deploy_headers(setup_code=sp.setup_code()),
            )
        assert r.status_code == 200, r.text
        yield House(sp, data)
    finally:
        sp.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One chromium per test module. Not per session: while Playwright's sync API runs, the
    main thread has a running event loop, which the asyncio tests of other folders need."""
    if not CHROMIUM.exists():  # pragma: no cover - depends on the machine
        pytest.skip(
            "Debian's chromium is not installed at /usr/bin/chromium "
            "(scripts/system-deps.sh installs it; `apt-get install chromium`)"
        )
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def new_context(browser: Any) -> Iterator[Any]:
    """Open browser contexts (separate profiles); each test's are closed after it."""
    made: list[Any] = []

    def make(
        viewport: dict[str, int] | None = None,
        locale: str = "en-US",
        color_scheme: str = "light",
    ) -> Any:
        ctx = browser.new_context(
            ignore_https_errors=True,
            viewport=viewport or DESKTOP,
            locale=locale,
            color_scheme=color_scheme,
        )
        ctx.set_default_timeout(10_000)
        made.append(ctx)
        return ctx

    yield make
    for ctx in made:
        ctx.close()
