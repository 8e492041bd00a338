"""Ports: what the services need from the outside world, as Protocols.

``storage/`` implements :class:`AccountStore` (SQLite by default, PostgreSQL for the
cloud); tests may use the same implementation on a temporary SQLite file.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Protocol

from domogate.core.accounts import (
    AuditEvent,
    ConnectionPath,
    Device,
    OtpRecord,
    OtpState,
    ProjectVersion,
    User,
)


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""

    def monotonic(self) -> float:
        """Seconds, for throttling and short timeouts."""


class AccountStore(Protocol):
    # users ---------------------------------------------------------------------------
    async def add_user(self, user: User) -> None: ...
    async def update_user(self, user: User) -> None: ...
    async def get_user(self, user_id: str) -> User | None: ...
    async def find_user_by_name(self, name: str) -> User | None:
        """Case-insensitive match on the name; revoked users included."""

    async def list_users(self) -> list[User]: ...
    async def revoke_user(self, user_id: str, at: datetime) -> None:
        """Set ``revoked_at`` (if not set yet) and nothing else."""

    # devices -------------------------------------------------------------------------
    async def get_device(self, device_id: str) -> Device | None: ...
    async def get_device_and_user(self, device_id: str) -> tuple[Device, User | None] | None:
        """The device and its user (None if the user is gone), read together."""

    async def list_devices(self, user_id: str | None = None) -> list[Device]: ...
    async def add_device(self, device: Device) -> None: ...
    async def revoke_devices(self, device_ids: Sequence[str], at: datetime) -> None: ...

    # OTPs ----------------------------------------------------------------------------
    async def add_otp(self, otp: OtpRecord, new_user: User | None = None) -> None:
        """Store a new pending OTP; any other pending OTP of the same user becomes REPLACED
        (its sealed copy wiped) in the same transaction. ``new_user``: insert this user
        first, in that same transaction (a new client slot never exists without its OTP)."""

    async def find_otp_by_digest(self, digest: str) -> OtpRecord | None: ...
    async def pending_otps(self) -> list[OtpRecord]:
        """Every OTP in state PENDING (expired or not)."""

    async def finish_otp(self, otp_id: str, state: OtpState, at: datetime) -> bool:
        """PENDING → ``state`` atomically, wiping the sealed copy; False if it was not
        pending any more (someone else finished it first)."""

    async def redeem_otp(self, otp_id: str, at: datetime, user: User, device: Device) -> bool:
        """In one transaction: PENDING → USED (sealed copy wiped) only if still pending
        and unexpired at ``at``; then sets ``user.name`` (nothing else of ``user``) only
        if the user is not revoked; then ``add_device(device)``. Returns False, changing
        nothing, when another redemption won or the user was revoked meanwhile."""

    # users from a project, atomically with the version ----------------------------------
    async def current_project(self) -> ProjectVersion | None: ...
    async def deploy_project(
        self,
        version: ProjectVersion,
        upsert_users: Sequence[User],
        delete_user_ids: Sequence[str],
        before_commit: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """Store the version, upsert/delete users and make it current, all or nothing.

        ``before_commit`` runs inside the transaction after every write (crash tests)."""

    # audit ---------------------------------------------------------------------------
    async def append_audit(self, event: AuditEvent) -> None: ...
    async def write_activity(
        self,
        events: Sequence[AuditEvent],
        touches: Sequence[tuple[str, datetime, ConnectionPath]] = (),
    ) -> None:
        """Audit events and device last-seen updates (id, at, path) in one transaction."""

    async def list_audit(
        self, *, limit: int = 200, user_id: str | None = None, before_id: int | None = None
    ) -> list[AuditEvent]:
        """Newest first. ``user_id`` filters on actor or target."""

    async def prune_audit(self, before: datetime, keep_newest: int) -> int:
        """Delete events older than ``before`` and all but the newest ``keep_newest``;
        the number deleted."""

    async def close(self) -> None: ...
