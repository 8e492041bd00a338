"""The services of one server, as the adapters see them (assembled in ``domogate/assembly.py``).

Adapters reach the server's state only through these use cases: the store stays private.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from domogate.core.lanaddress import Advertised
from domogate.services import addresses
from domogate.services.audit import AuditLog
from domogate.services.auth import AuthService
from domogate.services.clients import ClientsService
from domogate.services.cloud_link import CloudLinkService
from domogate.services.deploy import DeployService
from domogate.services.deps import Deps
from domogate.services.events import EventHub
from domogate.services.expiry import ExpiryJob
from domogate.services.maintenance import MaintenanceService
from domogate.services.objects import ObjectsService
from domogate.services.ports import Bus, CertificateKeeper, Clock, CloudLink, SetupCodes
from domogate.services.project_state import ProjectState
from domogate.services.service_password import ServicePasswordGuard
from domogate.services.updates import UpdateService
from domogate.settings import ServerSettings


class Services:
    def __init__(
        self,
        deps: Deps,
        *,
        bus: Bus,
        setup_codes: SetupCodes,
        deploy_before_commit: Callable[[], Awaitable[None]] | None = None,
        cloud_link: CloudLink | None = None,
        certificate_keeper: CertificateKeeper | None = None,
    ) -> None:
        self._d = deps
        guard = ServicePasswordGuard(deps, setup_codes)
        self.auth = AuthService(deps)
        self.cloud = CloudLinkService(deps.project, deps.events, cloud_link, certificate_keeper)
        self.clients = ClientsService(deps, self.auth, self.cloud)
        self.deploy = DeployService(deps, guard, before_commit=deploy_before_commit)
        self.updates = UpdateService(deps, self.deploy, cloud_link)
        self.maintenance = MaintenanceService(deps, guard, self.auth)
        self.objects = ObjectsService(
            bus=bus,
            project=deps.project,
            events=deps.events,
            clock=deps.clock,
            throttle=deps.settings.throttle.commands_per_user,
        )
        self.expiry = ExpiryJob(deps, self.clients, self.auth)

    # What adapters may read of the server (read-only views, not the store).
    @property
    def settings(self) -> ServerSettings:
        return self._d.settings

    @property
    def clock(self) -> Clock:
        return self._d.clock

    @property
    def server_id(self) -> str:
        return self._d.server_id

    @property
    def fingerprint(self) -> str | None:
        return self._d.fingerprint

    @property
    def events(self) -> EventHub:
        return self._d.events

    @property
    def project(self) -> ProjectState:
        return self._d.project

    @property
    def audit(self) -> AuditLog:
        return self._d.audit

    def advertised(self) -> Advertised:
        """The address join links and ``paths.local`` carry, and why (``core/lanaddress.py``)."""
        return addresses.advertised(self._d.settings, self._d.project)

    def local_url(self) -> str:
        """The server's local URL for others to dial (``scheme://ADVERTISED:PORT``)."""
        return addresses.local_url(self._d.settings, self._d.project)

    async def hash_password(self, password: str) -> str:
        return await self._d.passwords.hash(password)

    async def load_project(self) -> None:
        """Read the deployed project (:meth:`start` does it too)."""
        await self._d.project.load(self._d.store)

    async def start(self) -> None:
        """Load the deployed project, start the bus and the cloud link (the server's
        lifespan starts the expiry job, :attr:`expiry`, next to it)."""
        await self._d.project.load(self._d.store)
        await self.objects.start()
        self.updates.start()  # before the link: it tells of a version after its welcome
        await self.cloud.start()

    async def close(self) -> None:
        await self.expiry.stop()
        await self.cloud.stop()
        await self.updates.stop()
        await self.objects.stop()
        await self._d.audit.close()
        self._d.passwords.close()
        await self._d.store.close()
