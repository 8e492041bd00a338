"""The link to the cloud as a use case: started when the deployed project enables the
cloud, restarted or stopped at once when a deploy changes or disables it, and its state
(:class:`~domogate.services.ports.CloudLinkState`) published to admins as an event.

When the link is up and the cloud told an ACME directory, the certificate keeper is asked
to keep a certificate for the cloud name (the host of the welcome's URL); a welcome
without a directory, a disabled or released link stop it. A link that is down for a
while leaves it running: the certificate held stays served, renewals retry."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from urllib.parse import urlsplit

from domogate.core.project import SystemOptions
from domogate.services.events import (
    CloudCertificateChanged,
    CloudLinkChanged,
    Event,
    EventHub,
    ProjectChanged,
)
from domogate.services.ports import (
    CERT_NONE,
    CLOUD_DISABLED,
    CLOUD_LINKED,
    CLOUD_RELEASED,
    CertificateKeeper,
    CloudCertificate,
    CloudLink,
    CloudLinkState,
    CloudTarget,
)
from domogate.services.project_state import ProjectState

log = logging.getLogger(__name__)


def target_of(system: SystemOptions) -> CloudTarget | None:
    """The cloud to link to, or None when the project does not enable one."""
    cloud = system.cloud
    if not cloud.enabled or not cloud.address or not cloud.password:
        return None
    return CloudTarget(cloud.address, cloud.fingerprint, cloud.password)


class CloudLinkService:
    """Holds the link's state; follows the deployed project."""

    def __init__(
        self,
        project: ProjectState,
        events: EventHub,
        link: CloudLink | None,
        keeper: CertificateKeeper | None = None,
    ) -> None:
        self._project = project
        self._events = events
        self._link = link
        self._keeper = keeper
        self._kept: tuple[str, str] | None = None  # (host, directory) being kept
        self._certificate = CloudCertificate(CERT_NONE)
        self._keeper_stops: set[asyncio.Task[None]] = set()
        self._target: CloudTarget | None = None
        self._state = CloudLinkState(CLOUD_DISABLED, name=link.name if link else None)
        self._switching: asyncio.Task[None] | None = None
        self._unsubscribe = events.subscribe(self._on_event)

    @property
    def state(self) -> CloudLinkState:
        return self._state

    @property
    def certificate(self) -> CloudCertificate:
        """The cloud name's ACME certificate (state ``none`` without a directory)."""
        return self._certificate

    @property
    def name(self) -> str | None:
        """The installation's cloud name (None when this server has no link adapter)."""
        return self._link.name if self._link else None

    @property
    def url(self) -> str | None:
        """The installation's cloud URL while linked."""
        return self._state.url if self._state.status == CLOUD_LINKED else None

    @property
    def relay(self) -> str | None:
        """The relay's ``HOST:PORT`` while linked."""
        return self._state.relay if self._state.status == CLOUD_LINKED else None

    async def start(self) -> None:
        """Follow the deployed project from now on (after it is loaded)."""
        self._follow()
        await self.settled()

    async def settled(self) -> None:
        """Wait until the last change of project has been applied to the link."""
        while self._switching is not None and not self._switching.done():
            await asyncio.shield(self._switching)

    async def stop(self) -> None:
        self._unsubscribe()
        await self.settled()
        if self._link is not None and self._target is not None:
            await self._link.stop()
        self._target = None
        if self._keeper is not None:
            self._kept = None
            await self._keeper.stop()
        for task in list(self._keeper_stops):
            await task

    def _on_event(self, event: Event) -> None:
        if isinstance(event, ProjectChanged):
            self._follow()

    def _follow(self) -> None:
        if self._link is None:
            return
        target = target_of(self._project.system)
        if target == self._target:
            return
        previous = self._switching
        self._switching = asyncio.get_running_loop().create_task(self._switch(previous, target))

    async def _switch(
        self, previous: asyncio.Task[None] | None, target: CloudTarget | None
    ) -> None:
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous
        link = self._link
        assert link is not None
        if self._target is not None:
            await link.stop()
            self._target = None
        if target is None:
            self._report(CloudLinkState(CLOUD_DISABLED, name=link.name))
            return
        self._target = target
        link.start(target, self._report)

    def _report(self, state: CloudLinkState) -> None:
        if state == self._state:
            return
        self._state = state
        self._events.publish(CloudLinkChanged(state))
        self._follow_certificate(state)

    def _follow_certificate(self, state: CloudLinkState) -> None:
        if self._keeper is None:
            return
        if state.status == CLOUD_LINKED:
            host = urlsplit(state.url).hostname if state.url else None
            if host and state.acme_directory:
                wanted = (host, state.acme_directory)
                if wanted != self._kept:
                    self._kept = wanted
                    self._keeper.keep(host, state.acme_directory, self._report_certificate)
                return
        elif state.status not in (CLOUD_DISABLED, CLOUD_RELEASED):
            return  # connecting, error: keep what is held, renewals retry
        if self._kept is not None:
            self._kept = None
            task = asyncio.get_running_loop().create_task(self._keeper.stop())
            self._keeper_stops.add(task)
            task.add_done_callback(self._keeper_stops.discard)
            self._report_certificate(CloudCertificate(CERT_NONE))

    def _report_certificate(self, certificate: CloudCertificate) -> None:
        if certificate == self._certificate:
            return
        if self._kept is None and certificate.state != CERT_NONE:
            return  # a late report of a keeper being stopped
        self._certificate = certificate
        self._events.publish(CloudCertificateChanged(certificate))
