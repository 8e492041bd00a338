"""Who may continue: the one rule that decides whether a session may go on, for requests
(:meth:`SessionAccess.authenticate`) and for live connections, which it tells (pushed, not
polled) when a logout, a revocation, a change of the account, a deploy or the session's or
account's end changes the answer (:meth:`SessionAccess.watch`,
:meth:`SessionAccess.recheck_live`).

The ways in (``auth.py``) open sessions here; :class:`~domogate.services.auth.AuthService`
delegates its session methods to this class, so adapters keep calling ``services.auth``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime

from domogate.core.accounts import Device, User
from domogate.errors import (
    AccountExpired,
    DomogateError,
    PathNotAllowed,
    Revoked,
    Unauthenticated,
)
from domogate.services.context import Authenticated, Caller, RequestContext
from domogate.services.deps import Deps
from domogate.services.events import DevicesRevoked
from domogate.services.sessions import Session, SessionRegistry
from domogate.services.watch import AccessListener, Watch, WatchRegistry

# Why a session may not continue; what a request is answered, and what a live connection
# is told when it is closed for it.
_UNKNOWN, _ENDED, _DEVICE_REVOKED, _USER_REVOKED, _ACCOUNT_EXPIRED, _PATH = (
    "unknown",
    "ended",
    "device_revoked",
    "user_revoked",
    "account_expired",
    "path_not_allowed",
)
_API_ERRORS: dict[str, Callable[[], DomogateError]] = {
    _UNKNOWN: Unauthenticated,
    _ENDED: Unauthenticated,
    _DEVICE_REVOKED: Revoked,
    _USER_REVOKED: Revoked,
    _ACCOUNT_EXPIRED: AccountExpired,
    _PATH: PathNotAllowed,
}
_LIVE_ERRORS: dict[str, Callable[[], DomogateError]] = {
    _UNKNOWN: lambda: Unauthenticated("Session ended."),
    _ENDED: lambda: Unauthenticated("Session ended."),
    _DEVICE_REVOKED: lambda: Revoked("This device has been revoked."),
    _USER_REVOKED: lambda: Revoked("Access has been revoked."),
    _ACCOUNT_EXPIRED: lambda: AccountExpired("Account expired."),
    _PATH: lambda: PathNotAllowed("This account may no longer connect through this path."),
}


class SessionAccess:
    """Open sessions and their live holders; decides whether each may continue."""

    def __init__(self, deps: Deps) -> None:
        self._d = deps
        self._sessions = SessionRegistry(deps.settings.session_ttl)
        self._watches = WatchRegistry(deps.clock, self._deadline_of)
        self._watches.on_due = self._on_due

    def open(self, user: User, device: Device, ctx: RequestContext, now: datetime) -> Authenticated:
        """A new session for ``user`` on ``device``."""
        token, session = self._sessions.open(user.id, device.id, ctx.path, ctx.source, now)
        return Authenticated(token, session, user, device)

    def renews(self, token: str | None, device_id: str) -> bool:
        """Whether ``token`` is an open session of ``device_id`` (a sign-in that renews it)."""
        if not token:
            return False
        try:
            session = self._sessions.get(token, self._d.clock.now())
        except DomogateError:
            return False
        return session.device_id == device_id

    async def authenticate(self, token: str, ctx: RequestContext) -> Caller:
        """The caller behind a session token, re-checked against the account's state.

        A session is bound to the path it was opened on (``local`` or ``cloud``, known from
        the connection, never from what the client says): used on the other path it is
        refused (``path_not_allowed``) and stays open for its own path."""
        session = self._sessions.get(token, self._d.clock.now())
        if session.path != ctx.path:
            raise PathNotAllowed(
                f"This session was opened on the {session.path.value} path; sign in again "
                f"to use the {ctx.path.value} path."
            )
        found = await self._d.store.get_device_and_user(session.device_id)
        # The device may have been revoked while we read: its sessions are gone then.
        session = self._sessions.get(token, self._d.clock.now())
        device, user = found if found is not None else (None, None)
        refusal = self._refusal(session, device, user, self._d.clock.now())
        if refusal is not None:
            self._end_session(session.token_hash, refusal)
            raise _API_ERRORS[refusal]()
        assert user is not None
        return Caller(session, user, ctx)

    def is_live_token(self, token: str) -> bool:
        """Whether ``token`` is an open session (nothing else checked: the routes do)."""
        try:
            self._sessions.get(token, self._d.clock.now())
        except DomogateError:
            return False
        return True

    def logout(self, token: str) -> None:
        session = self._sessions.close(token)
        if session is not None:
            self._end_session(session.token_hash, _ENDED)

    def purge_expired(self) -> None:
        """Forget sessions past their end (their holders were told by their deadline)."""
        self._sessions.purge_expired(self._d.clock.now())

    def end_devices(self, device_ids: frozenset[str]) -> None:
        """These devices were revoked: end their sessions and live connections now."""
        for session in self._sessions.close_devices(device_ids):
            self._end_session(session.token_hash, _DEVICE_REVOKED, by_admin=True)
        for watch in list(self._watches.all()):  # sessions opened by a racing sign-in
            if watch.caller.session.device_id in device_ids:
                self._tell_end(watch, _DEVICE_REVOKED, by_admin=True)
        if device_ids:
            self._d.events.publish(DevicesRevoked(device_ids))

    def user_changed(self, user: User) -> None:
        """An account changed here (admin flag, …): tell its live connections."""
        now = self._d.clock.now()
        for watch in list(self._watches.all()):
            if watch.caller.session.user_id == user.id:
                self._decide(watch, watch.caller, True, user, now, announce=True)

    def watch(self, caller: Caller, listener: AccessListener) -> Watch:
        """Register a live holder of ``caller``'s session: it is told (pushed, not polled)
        when the session may no longer continue or its account changes. Deadlines (the
        session's end, the account's end) are kept by one timer for all holders."""
        return self._watches.add(caller, listener)

    def unwatch(self, watch: Watch) -> None:
        self._watches.remove(watch)

    async def recheck_live(self, announce: bool = True) -> None:
        """Decide again for every live holder, from the store: after a deploy (users may
        have moved group), before the client list goes to admins (an admin may have been
        demoted by the local maintenance command, in another process), and as defence in
        depth (a device revoked behind the services' back)."""
        if not len(self._watches):
            return
        now = self._d.clock.now()
        users = {u.id: u for u in await self._d.store.list_users()}
        live_devices = {d.id for d in await self._d.store.list_devices() if d.revoked_at is None}
        for watch in list(self._watches.all()):
            if not watch.active:
                continue
            session = watch.caller.session
            self._decide(
                watch,
                watch.caller,
                session.device_id in live_devices,
                users.get(session.user_id),
                now,
                announce=announce,
            )

    def _on_due(self, watch: Watch, now: datetime) -> None:
        self._decide(watch, watch.caller, True, watch.caller.user, now, announce=True)

    def _decide(
        self,
        watch: Watch,
        caller: Caller,
        device_live: bool,
        user: User | None,
        now: datetime,
        *,
        announce: bool,
    ) -> None:
        refusal = self._live_refusal(caller.session, device_live, user, now)
        if refusal is not None:
            self._tell_end(watch, refusal)
            return
        assert user is not None
        if user != caller.user:
            changed = replace(caller, user=user)
            self._watches.update(watch, changed)
            watch.listener.access_changed(changed, announce)
        elif watch.deadline is None:
            self._watches.update(watch, caller)  # a timer that fired early: look again later

    def _refusal(
        self, session: Session, device: Device | None, user: User | None, now: datetime
    ) -> str | None:
        """Why ``session`` may not continue now, or None: the rule for every request."""
        if user is None or user.id != session.user_id:
            return _UNKNOWN
        # Defence in depth: a session opened by a sign-in that raced the revocation of its
        # device is refused here, not only when revocation closed the sessions it knew.
        if device is None or device.revoked_at is not None:
            return _DEVICE_REVOKED
        return self._live_refusal(session, True, user, now)

    def _live_refusal(
        self, session: Session, device_live: bool, user: User | None, now: datetime
    ) -> str | None:
        if not self._sessions.is_open(session.token_hash, now):
            return _ENDED
        if not device_live:
            return _DEVICE_REVOKED
        if user is None or user.revoked_at is not None or user.id != session.user_id:
            return _USER_REVOKED
        if user.is_account_expired(now):
            return _ACCOUNT_EXPIRED
        if session.path not in user.allowed_paths:
            return _PATH
        return None

    def _end_session(self, token_hash: str, reason: str, *, by_admin: bool = False) -> None:
        self._sessions.drop(token_hash)
        for watch in self._watches.of_token(token_hash):
            self._tell_end(watch, reason, by_admin=by_admin)

    def _tell_end(self, watch: Watch, reason: str, *, by_admin: bool = False) -> None:
        self._watches.remove(watch)
        error = Revoked() if by_admin else _LIVE_ERRORS[reason]()
        watch.listener.access_ended(error)

    @staticmethod
    def _deadline_of(caller: Caller) -> datetime | None:
        ends = caller.session.expires_at
        account_end = caller.user.account_expires_at
        return ends if account_end is None else min(ends, account_end)
