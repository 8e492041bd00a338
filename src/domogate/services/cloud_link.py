"""The link to the cloud as a use case: started when the deployed project enables the
cloud, restarted or stopped at once when a deploy changes or disables it, and its state
(:class:`~domogate.services.ports.CloudLinkState`) published to admins as an event."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from domogate.core.project import SystemOptions
from domogate.services.events import CloudLinkChanged, Event, EventHub, ProjectChanged
from domogate.services.ports import (
    CLOUD_DISABLED,
    CLOUD_LINKED,
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

    def __init__(self, project: ProjectState, events: EventHub, link: CloudLink | None) -> None:
        self._project = project
        self._events = events
        self._link = link
        self._target: CloudTarget | None = None
        self._state = CloudLinkState(CLOUD_DISABLED, name=link.name if link else None)
        self._switching: asyncio.Task[None] | None = None
        self._unsubscribe = events.subscribe(self._on_event)

    @property
    def state(self) -> CloudLinkState:
        return self._state

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
