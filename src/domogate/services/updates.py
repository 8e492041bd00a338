"""Automatic server update: versions published through the cloud, received, checked and
applied (``docs/cloud-publish.md``, "The home server").

The link tells of a version (``version_available``, sent when one is published and after
every welcome). A version not above ``published_version`` (store meta) is ignored. With
``system.automatic_server_update`` on, it is fetched over the link, checked
(``core.publishing.check_version``: the pinned publisher key's signature, this
installation, the digest, a newer version), decoded and applied through the same atomic
deploy as a local one (:meth:`DeployService.apply_published`, audited ``deploy`` with
source ``cloud``); off, it is remembered as available and admins are told
(:class:`UpdateChanged`), and :meth:`UpdateService.apply_available` (the maintenance page)
fetches, checks and applies it. Every outcome goes back to the cloud (``version_result``).

A refused version is audited (``update.refused``: code and version, never the content),
reported to the cloud and shown to admins; the running project is untouched. One update
at a time: a newer notice during an apply is handled after it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import datetime

from domogate.core.publishing import Manifest, check_version
from domogate.errors import DomogateError, NotFound, ProjectInvalid, VersionInvalid
from domogate.services.context import RequestContext
from domogate.services.deploy import LOCAL_DEPLOY_AT, DeployResult, DeployService
from domogate.services.deps import Deps
from domogate.services.events import UpdateChanged, UpdateRefusal, UpdateStatus
from domogate.services.ports import CloudLink, PublishedVersion, VersionNotice, VersionResult

log = logging.getLogger(__name__)

CLOUD = RequestContext("cloud")  # who applies a published version (audit source)
PUBLISHER_KEY = "publisher_key"
PUBLISHED_VERSION = "published_version"


class UpdateService:
    """See the module's docstring."""

    def __init__(self, deps: Deps, deploy: DeployService, link: CloudLink | None) -> None:
        self._d = deps
        self._deploy = deploy
        self._link = link
        self._lock = asyncio.Lock()  # one update at a time
        self._status = UpdateStatus()
        self._newest: VersionNotice | None = None  # the newest notice not handled yet
        self._worker: asyncio.Task[None] | None = None

    @property
    def status(self) -> UpdateStatus:
        """What admins are shown: a version available (automatic update off, or one that
        could not be fetched), the last refusal."""
        return self._status

    def start(self) -> None:
        if self._link is not None:
            self._link.on_version_available(self.version_available)

    async def stop(self) -> None:
        task, self._worker = self._worker, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def settled(self) -> None:
        """Wait until every notice received so far has been handled (tests)."""
        while self._worker is not None and not self._worker.done():
            await asyncio.shield(self._worker)

    async def published_version(self) -> int:
        raw = await self._d.store.get_meta(PUBLISHED_VERSION)
        return int(raw) if raw and raw.isdigit() else 0

    # --- notices --------------------------------------------------------------------------

    def version_available(self, notice: VersionNotice) -> None:
        """The link's listener: keep the newest notice; one worker handles them in turn."""
        if self._newest is None or notice.version > self._newest.version:
            self._newest = notice
        if self._worker is None or self._worker.done():
            self._worker = asyncio.get_running_loop().create_task(self._work())

    async def _work(self) -> None:
        while self._newest is not None:
            notice, self._newest = self._newest, None
            try:
                await self._handle(notice)
            except Exception:
                log.exception("could not handle published version %d", notice.version)

    async def _handle(self, notice: VersionNotice) -> None:
        async with self._lock:
            published = await self.published_version()
            if notice.version <= published:
                return
            if not self._d.project.system.automatic_server_update:
                log.info("version %d is available (automatic server update off)", notice.version)
                self._set(UpdateStatus(notice.version, notice.published_at, self._status.refused))
                return
            try:
                await self._fetch_and_apply(notice.version, published)
            except DomogateError as exc:
                if exc.code == "update_unavailable":  # kept: the next link tells again
                    self._set(
                        UpdateStatus(notice.version, notice.published_at, self._status.refused)
                    )

    async def apply_available(self, ctx: RequestContext) -> DeployResult:
        """Fetch, check and apply the version admins were told of (the maintenance page);
        ``NotFound`` when none is available."""
        async with self._lock:
            available = self._status.available
            if available is None:
                raise NotFound("No published version is waiting to be applied.")
            await self._d.audit.record("update.apply", "requested", ctx, version=available)
            return await self._fetch_and_apply(available, await self.published_version())

    # --- one version ------------------------------------------------------------------------

    async def _fetch_and_apply(self, version: int, published: int) -> DeployResult:
        """Under the lock. Raises the refusal (already reported, audited and shown) or
        ``UpdateUnavailable`` (nothing was fetched: not reported)."""
        assert self._link is not None  # notices come from the link
        try:
            pinned = await self._d.store.get_meta(PUBLISHER_KEY)
            if not pinned:  # no need to fetch what will be refused
                check_version(
                    manifest=b"",
                    signature=b"",
                    content=b"",
                    pinned_key=None,
                    installation=self._link.name,
                    published_version=published,
                )
            fetched = await self._link.fetch_version(version)
        except DomogateError as exc:
            if exc.code != "update_unavailable":
                await self._refused(version, exc)
            else:
                log.warning("published version %d: %s", version, exc.message)
            raise
        link = self._link

        async def check() -> tuple[Manifest, object]:
            """The checks against the pin and the floor as stored now; off the event loop
            (a version is up to 64 MiB: digest and JSON decoding take a while)."""
            pinned_now = await self._d.store.get_meta(PUBLISHER_KEY)
            floor = await self.published_version()
            local_at = await self._d.store.get_meta(LOCAL_DEPLOY_AT)
            return await asyncio.to_thread(
                _checked, fetched, version, pinned_now, link.name, floor, local_at
            )

        async def recheck() -> None:
            await check()

        try:
            manifest, data = await check()
            result = await self._deploy.apply_published(
                CLOUD, data, manifest.version, recheck=recheck
            )
        except DomogateError as exc:
            await self._refused(version, exc)
            raise
        log.info("published version %d applied as project version %d", version, result.version)
        self._link.report_version(VersionResult(version, True))
        self._set(UpdateStatus())
        return result

    async def _refused(self, version: int, exc: DomogateError) -> None:
        log.warning("published version %d refused: %s (%s)", version, exc.message, exc.code)
        await self._d.audit.record("update.refused", exc.code, CLOUD, version=version)
        assert self._link is not None
        self._link.report_version(VersionResult(version, False, exc.code, exc.message))
        available = self._status.available
        self._set(
            UpdateStatus(
                None if available == version else available,
                None if available == version else self._status.published_at,
                UpdateRefusal(version, exc.code, exc.message),
            )
        )

    def _set(self, status: UpdateStatus) -> None:
        if status != self._status:
            self._status = status
            self._d.events.publish(UpdateChanged(status))


def _decode(content: bytes) -> object:
    try:
        return json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise ProjectInvalid("The published content is not a JSON project.") from exc


def _checked(
    fetched: PublishedVersion,
    version: int,
    pinned: str | None,
    installation: str,
    published: int,
    local_deploy_at: str | None,
) -> tuple[Manifest, object]:
    """``check_version``, the version asked for, and the decoded content (in a thread)."""
    manifest = check_version(
        manifest=fetched.manifest,
        signature=fetched.signature,
        content=fetched.content,
        pinned_key=pinned,
        installation=installation,
        published_version=published,
        local_deploy_at=datetime.fromisoformat(local_deploy_at) if local_deploy_at else None,
    )
    if manifest.version != version:
        raise VersionInvalid(f"The cloud sent version {manifest.version} when asked for {version}.")
    return manifest, _decode(fetched.content)
