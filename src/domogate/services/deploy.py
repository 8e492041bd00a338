"""Deploy a project: authorise, validate, sync initial users, switch atomically, announce."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field, replace

from domogate.core.accounts import ProjectVersion, User, UserOrigin, unnamed_slot
from domogate.core.cloudwire import parse_public_key, public_key_text
from domogate.core.names import name_key
from domogate.core.project import Project, project_to_data, validate_project_data
from domogate.core.publishing import key_fingerprint_of_text
from domogate.core.times import iso
from domogate.errors import Conflict, DomogateError, InvalidCredentials, InvalidInput
from domogate.services.context import RequestContext
from domogate.services.deps import Deps
from domogate.services.events import ProjectChanged
from domogate.services.ports import AccountStore
from domogate.services.project_state import DeployedProject
from domogate.services.service_password import ServicePasswordGuard


@dataclass(frozen=True)
class DeployGrant:
    """Proof that a deploy was authorised (service password or setup code), for the
    project version that was current then: the body is read only after this."""

    version: int
    by_setup_code: bool
    service_hash: str | None  # the service password's hash it was checked against
    password: str | None = field(default=None, repr=False)  # kept for this request only


PUBLISHER_KEY = "publisher_key"
LOCAL_DEPLOY_AT = "local_deploy_at"  # when the last local deploy superseded what was published
"""The store's meta key of the pinned publisher key (``docs/cloud-publish.md``)."""


@dataclass(frozen=True)
class PublisherPin:
    """A change of the pinned publisher key: the old and new fingerprints."""

    old: str | None
    new: str


@dataclass(frozen=True)
class DeployResult:
    version: int
    name: str
    users_created: list[str] = field(default_factory=list)
    users_updated: list[str] = field(default_factory=list)
    users_removed: list[str] = field(default_factory=list)
    users_kept: list[str] = field(default_factory=list)
    # Users whose admin flag, decided on the server since they were created, differs from
    # the project's: the server's decision stands.
    admin_differs: list[str] = field(default_factory=list)


class DeployService:
    def __init__(
        self,
        deps: Deps,
        guard: ServicePasswordGuard,
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self._d = deps
        self._guard = guard
        self._before_commit = before_commit
        self._lock = asyncio.Lock()  # one deploy at a time: versions are sequential

    async def authorise(
        self, ctx: RequestContext, *, setup_code: str | None, password: str | None
    ) -> DeployGrant:
        """Check the credentials first, before anything of the project is read."""
        version = self._d.project.version or 0
        service_hash = self._d.project.system.password
        try:
            await self._guard.check(ctx, password=password, setup_code=setup_code)
        except DomogateError as exc:
            await self._d.audit.record_failure("deploy", exc.code, ctx)
            raise
        return DeployGrant(version, service_hash is None, service_hash, password)

    async def apply(
        self,
        ctx: RequestContext,
        grant: DeployGrant,
        data: object,
        *,
        publisher_key: str | None = None,
    ) -> DeployResult:
        """Validate and switch to ``data``, authorised by ``grant``; pin ``publisher_key``
        (the integrator's, ``cloudwire.public_key_text``) in the same transaction, when
        given: the key that published versions must be signed by (a deploy without one
        leaves the pin as it is)."""
        pin: PublisherPin | None = None
        try:
            if publisher_key is not None:
                try:
                    new_fp = key_fingerprint_of_text(publisher_key)
                    # pinned in its one canonical form (the text is compared as sent)
                    publisher_key = public_key_text(parse_public_key(publisher_key))
                except InvalidInput as exc:
                    raise InvalidInput(
                        "publisher_key is not an Ed25519 public key (base64url of its 32 "
                        "bytes, as `domogate deploy` sends it).",
                        field="publisher_key",
                    ) from exc
            async with self._lock:
                # A grant holds for the secret it was checked against: if the service
                # password changed while this body was arriving (a rotation after a leak),
                # the old password must not still apply a project.
                current_hash = self._d.project.system.password
                if current_hash != grant.service_hash and not (
                    # the same password, hashed anew by a deploy meanwhile
                    current_hash is not None
                    and grant.password is not None
                    and await self._guard.verify(current_hash, grant.password)
                ):
                    raise InvalidCredentials(
                        "The service password changed while this deploy was being sent; "
                        "deploy again with the current one."
                    )
                # A setup code authorises only the deploy it was given for.
                if grant.by_setup_code and (self._d.project.version or 0) != grant.version:
                    raise Conflict(
                        "Another deploy changed the project while this one was being sent; "
                        "deploy again."
                    )
                project = validate_project_data(
                    data,
                    file="deployed project",
                    hash_format=self._d.passwords.passwords.is_well_formed_hash,
                )
                # A local deploy supersedes every version published before it: a cloud
                # may not bring one back afterwards (core/publishing.check_version).
                meta: dict[str, str] = {LOCAL_DEPLOY_AT: iso(self._d.clock.now())}
                if publisher_key is not None:
                    old = await self._d.store.get_meta(PUBLISHER_KEY)
                    if old != publisher_key:
                        old_fp = key_fingerprint_of_text(old) if old else None
                        pin = PublisherPin(old_fp, new_fp)
                        meta[PUBLISHER_KEY] = publisher_key
                result = await self._switch(project, ctx, meta=meta)
        except DomogateError as exc:
            await self._d.audit.record("deploy", exc.code, ctx)
            raise
        await self._d.audit.record("deploy", "ok", ctx, actor_name="integrator", **asdict(result))
        if pin is not None:
            await self._d.audit.record(
                "publisher_key.pin",
                "ok",
                ctx,
                actor_name="integrator",
                old_fingerprint=pin.old,
                new_fingerprint=pin.new,
                version=result.version,
            )
        self._d.events.publish(ProjectChanged(result.version))
        return result

    async def apply_published(
        self,
        ctx: RequestContext,
        data: object,
        published_version: int,
        recheck: Callable[[], Awaitable[None]] | None = None,
    ) -> DeployResult:
        """Validate and switch to a version published through the cloud, as :meth:`apply`
        does, without a service-password grant: the signature of the pinned publisher key
        is the authorisation (``services/updates.py`` checked it, and checks it again
        through ``recheck`` under the deploy lock). ``published_version``
        moves in the deploy's own transaction; audited ``deploy`` from ``ctx`` (``cloud``)."""
        meta = {"published_version": str(published_version)}
        try:
            async with self._lock:
                if recheck is not None:  # the pin and the floor as they are now, under the
                    await recheck()  # lock: a local deploy meanwhile may have moved them
                project = validate_project_data(
                    data,
                    file="published project",
                    hash_format=self._d.passwords.passwords.is_well_formed_hash,
                )
                result = await self._switch(project, ctx, meta=meta)
        except DomogateError as exc:
            await self._d.audit.record(
                "deploy",
                exc.code,
                ctx,
                actor_name="integrator",
                published_version=published_version,
            )
            raise
        await self._d.audit.record(
            "deploy",
            "ok",
            ctx,
            actor_name="integrator",
            published_version=published_version,
            **asdict(result),
        )
        self._d.events.publish(ProjectChanged(result.version))
        return result

    async def deploy(
        self,
        ctx: RequestContext,
        data: object,
        *,
        setup_code: str | None = None,
        password: str | None = None,
    ) -> DeployResult:
        """Authorise, then apply (for callers that hold the whole project already)."""
        grant = await self.authorise(ctx, setup_code=setup_code, password=password)
        return await self.apply(ctx, grant, data)

    async def _switch(
        self, project: Project, ctx: RequestContext, *, meta: Mapping[str, str] | None = None
    ) -> DeployResult:
        now = self._d.clock.now()
        groups = set(project.group_names())
        existing = await self._d.store.list_users()
        devices = await self._d.store.list_devices()
        with_devices = {d.user_id for d in devices if d.revoked_at is None}
        by_key = {name_key(u.name): u for u in existing if u.name}
        wanted = {name_key(u.name): u for u in project.users}

        upserts: list[User] = []
        created: list[str] = []
        updated: list[str] = []
        admin_differs: list[str] = []
        for key, pu in wanted.items():
            old = by_key.get(key)
            if old is None:
                upserts.append(
                    User(
                        id=self._d.new_id(),
                        name=pu.name,
                        group=pu.group,
                        admin=pu.admin,
                        origin=UserOrigin.PROJECT,
                        created_at=now,
                        password_hash=pu.password,
                    )
                )
                created.append(pu.name)
            elif old.origin is not UserOrigin.PROJECT:
                # Never merge a person an admin added (who chose this name when joining)
                # into a project user: that would hand them the project user's rights.
                raise Conflict(
                    f"The project's user {pu.name!r} has the name of a client added by an "
                    "administrator; rename one of them.",
                    user=pu.name,
                )
            else:
                # The admin flag is the project's until a grant or a revocation made on
                # the server decides it; from then on the server's decision stands.
                admin = pu.admin
                if old.admin_set_on_server:
                    admin = old.admin
                    if old.admin != pu.admin:
                        admin_differs.append(pu.name)
                new = replace(
                    old,
                    name=pu.name,
                    group=pu.group,
                    admin=admin,
                    password_hash=pu.password,
                    origin=UserOrigin.PROJECT,
                )
                if new != old:
                    upserts.append(new)
                    updated.append(pu.name)

        removed: list[str] = []
        kept: list[str] = []
        delete_ids: list[str] = []
        orphans: list[str] = []
        for u in existing:
            if u.name and name_key(u.name) in wanted:
                continue
            if u.origin is UserOrigin.PROJECT:
                if u.id in with_devices:
                    kept.append(u.name or u.id)  # never silently delete someone with devices
                    if u.group not in groups:
                        orphans.append(_who(u))
                else:
                    delete_ids.append(u.id)
                    removed.append(u.name or u.id)
            elif u.revoked_at is None and u.group not in groups:
                orphans.append(_who(u))
        if orphans:
            raise Conflict(
                "The new project removes groups that users still belong to: "
                + ", ".join(sorted(orphans))
                + ". Keep their groups, or revoke those users first.",
                users=sorted(orphans),
            )

        previous = self._d.project.version or 0
        version = ProjectVersion(
            version=previous + 1,
            data=project_to_data(project),
            deployed_at=now,
            deployed_by=ctx.source,
        )
        await self._d.store.deploy_project(
            version, upserts, delete_ids, before_commit=self._before_commit, meta=meta or None
        )
        self._d.project.current = DeployedProject(version.version, project)
        if previous == 0 or project.system.password is not None:
            self._guard.setup_codes.discard_setup_code()
        return DeployResult(
            version.version, project.name, created, updated, removed, kept, admin_differs
        )

    async def set_password(self, name: str, password_hash: str) -> User | None:
        """Local operator (the demo): a user's password hash, by name; None if no such
        user."""
        user = await self._d.store.find_user_by_name(name)
        if user is not None:
            user = replace(user, password_hash=password_hash)
            await self._d.store.update_user(user)
        return user

    async def find_user(self, name: str) -> User | None:
        """Local operator: the user of this name (revoked ones included)."""
        return await self._d.store.find_user_by_name(name)


def _who(user: User) -> str:
    """How a user is named in messages: its name, or when its unnamed slot was added."""
    return user.name or f"an {unnamed_slot(user.created_at)}"


async def set_admin(store: AccountStore, name: str, admin: bool) -> User:
    """Local maintenance: grant or revoke the admin flag by user name."""
    user = await store.find_user_by_name(name)
    if user is None:
        users = [u.name for u in await store.list_users() if u.name]
        raise InvalidInput(
            f"No user named {name!r}. Known users: {', '.join(sorted(users)) or '(none)'}."
        )
    if user.admin != admin or not user.admin_set_on_server:
        user = replace(user, admin=admin, admin_set_on_server=True)
        await store.update_user(user)
    return user
