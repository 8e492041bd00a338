"""An in-memory cloud link adapter (the real one, against a real cloud, is in
``tests/e2e/test_cloud_link.py``): a test says when it is linked."""

from __future__ import annotations

from domogate.services.ports import CloudLinkReport, CloudLinkState, CloudTarget

MEMORY_CLOUD_URL = "https://abcdefghijklmnop.localhost:7443"


class MemoryLink:
    def __init__(self) -> None:
        self.started: list[CloudTarget] = []
        self.stopped = 0
        self.report: CloudLinkReport | None = None

    @property
    def name(self) -> str:
        return "abcdefghijklmnop"

    def start(self, target: CloudTarget, report: CloudLinkReport) -> None:
        self.started.append(target)
        self.report = report

    async def stop(self) -> None:
        self.stopped += 1
        self.report = None

    def linked(self) -> None:
        assert self.report is not None
        self.report(
            CloudLinkState("linked", name=self.name, url=MEMORY_CLOUD_URL, relay="127.0.0.1:7443")
        )

    def down(self) -> None:
        assert self.report is not None
        self.report(CloudLinkState("connecting", name=self.name))
