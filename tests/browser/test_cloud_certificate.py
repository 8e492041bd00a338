"""Chromium trusts the cloud name's ACME certificate: pebble's root in an NSS database of
a temporary HOME (``tests.support.pebble.chromium_trusting``), the zone mapped to
127.0.0.1 by ``--host-resolver-rules``, and no ``ignore_https_errors``."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from playwright import sync_api

from tests.support import pebble as pebble_support
from tests.support.acmestack import ZONE, stack
from tests.support.browser import CHROMIUM
from tests.support.until import wait_for

pytestmark = pytest.mark.skipif(
    not (CHROMIUM.exists() and pebble_support.available() and shutil.which("certutil")),
    reason="needs Debian's chromium, pebble and libnss3-tools",
)


def test_chromium_loads_the_cloud_name_without_a_certificate_error(tmp_path: Path) -> None:
    with stack(tmp_path) as s:
        wait_for(s.issued_lines, "the ACME certificate", 30)
        assert s.pebble is not None
        env = pebble_support.chromium_trusting(s.pebble.root_pem(), tmp_path / "home")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=str(CHROMIUM),
                args=["--no-sandbox", f"--host-resolver-rules=MAP *.{ZONE} 127.0.0.1"],
                env=env,
            )
            try:
                page = browser.new_page()  # certificate errors are errors
                answer = page.goto(f"https://{s.host}:{s.cloud.port}/api/info")
                assert answer is not None and answer.ok
                body = json.loads(page.inner_text("body"))
                assert body["paths"]["cloud"] == f"https://{s.host}:{s.cloud.port}"
                security = answer.security_details()
                assert security is not None and security.get("subjectName") == s.host
            finally:
                browser.close()
