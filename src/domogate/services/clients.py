"""Manage clients (admins): add a slot with an OTP, issue OTPs, revoke, list, expire."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta

from domogate.core import otp as otp_rules
from domogate.core.accounts import (
    ALL_PATHS,
    ClientStatus,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    User,
    UserOrigin,
    client_label,
    client_status,
)
from domogate.core.joinlink import JoinLink
from domogate.core.names import clean_name
from domogate.core.project import ConnectionPolicy
from domogate.core.times import iso
from domogate.errors import Conflict, InvalidInput, NotFound, OtpDisabled
from domogate.services import addresses
from domogate.services.auth import AuthService
from domogate.services.cloud_link import CloudLinkService
from domogate.services.context import Caller
from domogate.services.deps import Deps
from domogate.services.events import ClientsChanged


@dataclass(frozen=True)
class DeviceView:
    """One device of a client, as the Clients table shows it."""

    id: str
    name: str
    path: ConnectionPath | None  # the live connection's path, else the last one seen
    last_seen: datetime | None
    online: bool
    revoked: bool
    created_at: datetime


@dataclass(frozen=True)
class ClientView:
    """One row of the Clients table (admins; also pushed over the live channel)."""

    id: str
    label: str
    name: str | None
    group: str
    admin: bool
    status: ClientStatus
    origin: UserOrigin
    allowed_paths: tuple[ConnectionPath, ...]  # sorted by value
    otp_expires_at: datetime | None  # only while the OTP is pending and live
    account_expires_at: datetime | None
    created_at: datetime
    revoked_at: datetime | None
    last_seen: datetime | None
    path: ConnectionPath | None
    devices: tuple[DeviceView, ...]  # oldest first


@dataclass(frozen=True)
class Issued:
    """A fresh one-time password for a client slot (shown once)."""

    client: ClientView
    otp: str  # display form
    otp_expires_at: datetime
    join_link: str


MAX_ACCOUNT_VALIDITY = timedelta(days=100 * 365)
"""How far ahead an account's end date may be (``account_expires_at``)."""


class ClientsService:
    def __init__(self, deps: Deps, auth: AuthService, cloud: CloudLinkService) -> None:
        self._d = deps
        self._auth = auth
        self._cloud = cloud
        self._issuing = asyncio.Lock()  # the pending-OTP cap is checked and kept atomically

    # --- queries ----------------------------------------------------------------------

    async def list_clients(self, caller: Caller) -> list[ClientView]:
        caller.require_admin("manage clients")
        return await self.snapshot()

    async def snapshot(self) -> list[ClientView]:
        """The Clients table as admins see it (also pushed over the WebSocket)."""
        users = await self._d.store.list_users()
        devices = await self._d.store.list_devices()
        pending = {o.user_id: o for o in await self._d.store.pending_otps()}
        by_user: dict[str, list[Device]] = {}
        for d in devices:
            by_user.setdefault(d.user_id, []).append(d)
        online = self._d.presence.online()
        now = self._d.clock.now()
        rows = [self._view(u, by_user.get(u.id, []), pending.get(u.id), online, now) for u in users]
        order = {ClientStatus.PENDING: 0, ClientStatus.ONLINE: 1, ClientStatus.OFFLINE: 2}
        rows.sort(key=lambda r: (order.get(r.status, 3), r.label.casefold()))
        return rows

    async def client(self, user_id: str) -> ClientView:
        user = await self._d.store.get_user(user_id)
        if user is None:
            raise NotFound("No such client.")
        devices = await self._d.store.list_devices(user_id)
        pending = next(
            (o for o in await self._d.store.pending_otps() if o.user_id == user_id), None
        )
        return self._view(user, devices, pending, self._d.presence.online(), self._d.clock.now())

    def _view(
        self,
        user: User,
        devices: list[Device],
        pending: OtpRecord | None,
        online: frozenset[str],
        now: datetime,
    ) -> ClientView:
        plain = None
        if pending is not None and pending.is_live(now) and pending.sealed is not None:
            plain = self._d.sealer.open(pending.sealed)
        status = client_status(user, devices, pending, online, now)
        seen = [d for d in devices if d.last_seen_at is not None]
        last = max(seen, key=lambda d: d.last_seen_at or now, default=None)
        live_otp = pending is not None and pending.is_live(now)
        return ClientView(
            id=user.id,
            label=client_label(user, status, plain),
            name=user.name,
            group=user.group,
            admin=user.admin,
            status=status,
            origin=user.origin,
            allowed_paths=tuple(sorted(user.allowed_paths, key=lambda p: p.value)),
            otp_expires_at=pending.expires_at if pending is not None and live_otp else None,
            account_expires_at=user.account_expires_at,
            created_at=user.created_at,
            revoked_at=user.revoked_at,
            last_seen=last.last_seen_at if last else None,
            path=last.last_path if last else None,
            devices=tuple(
                DeviceView(
                    id=d.id,
                    name=d.name,
                    path=self._d.presence.path_of(d.id) or d.last_path,
                    last_seen=d.last_seen_at,
                    online=d.id in online and d.revoked_at is None,
                    revoked=d.revoked_at is not None,
                    created_at=d.created_at,
                )
                for d in sorted(devices, key=lambda d: d.created_at)
            ),
        )

    # --- presence (live connections) ----------------------------------------------------

    def connected(self, device_id: str, path: ConnectionPath) -> bool:
        """A live connection of this device opened; True when the Clients table changes
        (the device came online, or moved to this path)."""
        return self._d.presence.connected(device_id, path)

    def disconnected(self, device_id: str, path: ConnectionPath) -> bool:
        """One on ``path`` closed; True when the Clients table changes (the device went
        offline, or is now shown on its other path)."""
        return self._d.presence.disconnected(device_id, path)

    def presence_changed(self) -> None:
        self._d.events.publish(ClientsChanged())

    # --- commands ---------------------------------------------------------------------

    async def add_client(
        self,
        caller: Caller,
        *,
        base_url: str,
        name: str | None = None,
        group: str | None = None,
        admin: bool = False,
        valid_for: timedelta | None = None,
        account_expires_at: datetime | None = None,
        paths: list[str] | None = None,
    ) -> Issued:
        caller.require_admin("manage clients")
        self._require_otp_enabled()
        groups = self._d.project.group_names()
        if not groups:
            raise Conflict("Deploy a project before adding clients.")
        group = group or groups[0]
        if group not in groups:
            raise InvalidInput(
                f"Unknown group {group!r}; the project's groups are: {', '.join(groups)}.",
                field="group",
            )
        clean = clean_name(name, "name") if name not in (None, "") else None  # unique: store
        now = self._d.clock.now()
        if account_expires_at is not None and account_expires_at <= now:
            raise InvalidInput("The account end date is in the past.", field="account_expires_at")
        if account_expires_at is not None and account_expires_at > now + MAX_ACCOUNT_VALIDITY:
            raise InvalidInput(
                f"The account end date may be at most {MAX_ACCOUNT_VALIDITY.days // 365} years "
                "ahead; leave it out for an account that does not end.",
                field="account_expires_at",
            )
        allowed = self._parse_paths(paths)
        validity = self._validity(valid_for)
        base_url = self._local_base(caller, base_url)
        async with self._issuing:
            await self._require_room_for_an_otp(now)
            return await self._add_client(
                caller, clean, group, admin, allowed, account_expires_at, validity, base_url, now
            )

    async def _add_client(
        self,
        caller: Caller,
        clean: str | None,
        group: str,
        admin: bool,
        allowed: frozenset[ConnectionPath],
        account_expires_at: datetime | None,
        validity: timedelta,
        base_url: str,
        now: datetime,
    ) -> Issued:
        user = User(
            id=self._d.new_id(),
            name=clean,
            group=group,
            admin=bool(admin),
            origin=UserOrigin.ADMIN,
            created_at=now,
            allowed_paths=allowed,
            account_expires_at=account_expires_at,
        )
        issued = await self._issue(user, validity, base_url, now, new=True)
        await self._d.audit.record(
            "client.add",
            "ok",
            caller.context,
            actor=caller.user,
            target=user.id,
            name=clean,
            group=group,
            admin=bool(admin),
            otp_expires_at=iso(issued.otp_expires_at),
        )
        self._d.events.publish(ClientsChanged())
        return issued

    async def issue_otp(
        self, caller: Caller, user_id: str, *, base_url: str, valid_for: timedelta | None = None
    ) -> Issued:
        caller.require_admin("manage clients")
        self._require_otp_enabled()
        user = await self._d.store.get_user(user_id)
        if user is None:
            raise NotFound("No such client.")
        if user.revoked_at is not None:
            raise Conflict("This user is revoked; add a new user instead.")
        now = self._d.clock.now()
        validity = self._validity(valid_for)
        base_url = self._local_base(caller, base_url)
        async with self._issuing:
            await self._require_room_for_an_otp(now, replacing_for=user.id)
            issued = await self._issue(user, validity, base_url, now)
        await self._d.audit.record(
            "client.otp",
            "ok",
            caller.context,
            actor=caller.user,
            target=user.id,
            otp_expires_at=iso(issued.otp_expires_at),
        )
        self._d.events.publish(ClientsChanged())
        return issued

    async def revoke_user(self, caller: Caller, user_id: str) -> ClientView:
        caller.require_admin("manage clients")
        user = await self._d.store.get_user(user_id)
        if user is None:
            raise NotFound("No such client.")
        if user.id == caller.user.id:
            raise Conflict("You cannot revoke yourself; ask another administrator.")
        now = self._d.clock.now()
        # OTPs first, so that no redemption can start enrolling a device after this.
        for o in await self._d.store.pending_otps():
            if o.user_id == user_id:
                await self._d.store.finish_otp(o.id, OtpState.REVOKED, now)
        await self._d.store.revoke_user(user_id, now)
        devices = await self._d.store.list_devices(user_id)
        ids = [d.id for d in devices if d.revoked_at is None]
        if ids:
            await self._d.store.revoke_devices(ids, now)
        self._cut(frozenset(d.id for d in devices))
        await self._d.audit.record(
            "client.revoke", "ok", caller.context, actor=caller.user, target=user.id, devices=ids
        )
        self._d.events.publish(ClientsChanged())
        return await self.client(user_id)

    async def revoke_device(self, caller: Caller, user_id: str, device_id: str) -> ClientView:
        caller.require_admin("manage clients")
        device = await self._d.store.get_device(device_id)
        if device is None or device.user_id != user_id:
            raise NotFound("No such device for this client.")
        if device.id == caller.session.device_id:
            raise Conflict("You cannot revoke the device you are using.")
        if device.revoked_at is None:
            await self._d.store.revoke_devices([device.id], self._d.clock.now())
        self._cut(frozenset({device.id}))
        await self._d.audit.record(
            "device.revoke",
            "ok",
            caller.context,
            actor=caller.user,
            target=user_id,
            device_id=device.id,
        )
        self._d.events.publish(ClientsChanged())
        return await self.client(user_id)

    async def join_link_of_pending(self, caller: Caller, user_id: str, base_url: str) -> str:
        caller.require_admin("manage clients")
        now = self._d.clock.now()
        for o in await self._d.store.pending_otps():
            if o.user_id == user_id and o.is_live(now) and o.sealed is not None:
                user = await self._d.store.get_user(user_id)
                local = self._local_base(caller, base_url)
                return self._join_link(self._d.sealer.open(o.sealed), local, user)
        raise NotFound("This client has no pending one-time password.")

    async def expire_due(self) -> int:
        """Finish every pending OTP past its expiry (wiping its copies); returns how many."""
        now = self._d.clock.now()
        count = 0
        for o in await self._d.store.pending_otps():
            if now >= o.expires_at and await self._d.store.finish_otp(o.id, OtpState.EXPIRED, now):
                count += 1
        if count:
            self._d.events.publish(ClientsChanged())
        return count

    async def next_expiry(self) -> datetime | None:
        pending = await self._d.store.pending_otps()
        return min((o.expires_at for o in pending), default=None)

    # --- helpers ----------------------------------------------------------------------

    def _cut(self, device_ids: frozenset[str]) -> None:
        """End sessions and live connections of these devices now."""
        self._auth.end_devices(device_ids)

    async def _require_room_for_an_otp(
        self, now: datetime, replacing_for: str | None = None
    ) -> None:
        """The guessing bound of docs/security.md holds for at most ``max_pending_otps``
        pending OTPs: refuse one more (a new OTP for a user replaces theirs)."""
        pending = [
            o
            for o in await self._d.store.pending_otps()
            if o.expires_at > now and o.user_id != replacing_for
        ]
        limit = self._d.settings.max_pending_otps
        if len(pending) >= limit:
            raise Conflict(
                f"{limit} one-time passwords are already pending, the most this server keeps "
                "at once: wait until some are used or expire, or revoke unused ones.",
                pending=len(pending),
            )

    async def _issue(
        self, user: User, validity: timedelta, base_url: str, now: datetime, *, new: bool = False
    ) -> Issued:
        """A fresh OTP for ``user`` (``new``: the user is stored with it, atomically)."""
        canonical = otp_rules.generate(self._d.randbelow)
        record = OtpRecord(
            id=self._d.new_id(),
            user_id=user.id,
            digest=otp_rules.digest(self._d.otp_key, canonical),
            created_at=now,
            expires_at=now + validity,
            sealed=self._d.sealer.seal(canonical),
        )
        await self._d.store.add_otp(record, new_user=user if new else None)
        view = await self.client(user.id)
        return Issued(
            client=view,
            otp=otp_rules.display(canonical),
            otp_expires_at=record.expires_at,
            join_link=self._join_link(canonical, base_url, user),
        )

    def _local_base(self, caller: Caller, asked_on: str) -> str:
        """The server's local URL for a join link asked for on ``asked_on``: the request's
        own URL on the local path (the advertised address instead of loopback or a
        wildcard); on the cloud path, the server's advertised local URL."""
        if caller.context.path is ConnectionPath.CLOUD:
            return addresses.local_url(self._d.settings, self._d.project)
        return addresses.join_base(self._d.settings, self._d.project, asked_on)

    def _join_link(self, canonical: str, base_url: str, user: User | None) -> str:
        """The join link from the server's local URL ``base_url``; it carries the cloud URL
        and relay when ``user`` may use the cloud and the link is up (a newcomer outside
        the house can join), and has the cloud URL as its own origin when the policy
        uses the cloud too (``core/joinlink.py``: the cloud form)."""
        project = self._d.project.project
        external = None
        name = None
        cloud = user is not None and ConnectionPath.CLOUD in user.allowed_paths
        policy = self._d.project.system.cloud.connection_policy
        if project is not None:
            name = project.name
            if project.server.external_address:
                external = project.server.external_address
        return JoinLink(
            base_url=base_url,
            server_id=self._d.server_id,
            fingerprint=self._d.fingerprint,
            otp=otp_rules.display(canonical),
            external_url=external,
            server_name=name,
            cloud_url=self._cloud.url if cloud else None,
            cloud_relay=self._cloud.relay if cloud else None,
            prefer_cloud=cloud and policy is not ConnectionPolicy.LOCAL,
        ).to_url()

    def _validity(self, valid_for: timedelta | None) -> timedelta:
        validity = self._d.settings.otp_default_validity if valid_for is None else valid_for
        return otp_rules.check_validity(validity, self._d.settings.otp_max_validity)

    @staticmethod
    def _parse_paths(paths: list[str] | None) -> frozenset[ConnectionPath]:
        if not paths:
            return ALL_PATHS
        try:
            return frozenset(ConnectionPath(p) for p in paths)
        except ValueError as exc:
            raise InvalidInput("paths must be among: local, cloud.", field="paths") from exc

    def _require_otp_enabled(self) -> None:
        if not self._d.project.system.use_otp_authentication:
            raise OtpDisabled("One-time passwords are disabled in this project.")
