"""An in-memory cloud link adapter (the real one, against a real cloud, is in
``tests/e2e/test_cloud_link.py``): a test says when it is linked, which version the cloud
tells of (:meth:`MemoryLink.tell`), and what it holds (:attr:`MemoryLink.held`)."""

from __future__ import annotations

import asyncio

from domogate.errors import UpdateUnavailable
from domogate.services.ports import (
    CloudLinkReport,
    CloudLinkState,
    CloudTarget,
    PublishedVersion,
    VersionListener,
    VersionNotice,
    VersionResult,
)

MEMORY_CLOUD_URL = "https://abcdefghijklmnop.localhost:7443"


class MemoryLink:
    def __init__(self, name: str = "abcdefghijklmnop") -> None:
        self._name = name
        self.started: list[CloudTarget] = []
        self.stopped = 0
        self.report: CloudLinkReport | None = None
        self.listener: VersionListener | None = None
        self.held: dict[int, PublishedVersion] = {}  # what get_version answers
        self.fetched: list[int] = []
        self.reports: list[VersionResult] = []
        self.gate: asyncio.Event | None = None  # when set: fetches wait for it

    @property
    def name(self) -> str:
        return self._name

    def start(self, target: CloudTarget, report: CloudLinkReport) -> None:
        self.started.append(target)
        self.report = report

    async def stop(self) -> None:
        self.stopped += 1
        self.report = None

    def on_version_available(self, listener: VersionListener) -> None:
        self.listener = listener

    async def fetch_version(self, version: int) -> PublishedVersion:
        self.fetched.append(version)
        if self.gate is not None:
            await self.gate.wait()
        held = self.held.get(version)
        if held is None:
            raise UpdateUnavailable(f"The memory cloud holds no version {version}.")
        return held

    def report_version(self, report: VersionResult) -> None:
        self.reports.append(report)

    def tell(self, version: int, published_at: str | None = "2026-01-01T00:00:00Z") -> None:
        """The cloud's ``version_available``."""
        assert self.listener is not None
        self.listener(VersionNotice(version, None, published_at))

    def linked(self) -> None:
        assert self.report is not None
        self.report(
            CloudLinkState("linked", name=self.name, url=MEMORY_CLOUD_URL, relay="127.0.0.1:7443")
        )

    def down(self) -> None:
        assert self.report is not None
        self.report(CloudLinkState("connecting", name=self.name))
