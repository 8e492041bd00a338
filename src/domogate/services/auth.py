"""Use cases that let someone in: password login, OTP redemption, device sign-in.

Every way in is throttled, audited, and answers failures without saying which part of a
credential was wrong.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from domogate.core import devicekeys
from domogate.core import otp as otp_rules
from domogate.core.accounts import Device, OtpRecord, OtpState, User
from domogate.core.names import clean_name, name_key, printable_excerpt
from domogate.core.throttle import source_key
from domogate.errors import (
    AccountExpired,
    AutomaticAuthenticationDisabled,
    ChallengeInvalid,
    Conflict,
    DomogateError,
    InvalidCredentials,
    InvalidInput,
    OtpDisabled,
    OtpExpired,
    OtpInvalid,
    OtpUsed,
    PathNotAllowed,
    RateLimited,
    Revoked,
    SignatureInvalid,
    Unauthenticated,
)
from domogate.services.context import Authenticated, Caller, RequestContext
from domogate.services.deps import Deps
from domogate.services.events import ClientsChanged, DevicesRevoked
from domogate.services.sessions import Session, SessionRegistry
from domogate.services.throttling import KeyedBuckets, OtpBudget, take_all
from domogate.services.tokens import ExpiringTokens
from domogate.services.watch import AccessListener, Watch, WatchRegistry

MAX_LIVE_CHALLENGES = 50_000

# Why a session may not continue; what a request is answered, and what a live connection
# is told when it is closed for it.
_UNKNOWN, _ENDED, _DEVICE_REVOKED, _USER_REVOKED, _ACCOUNT_EXPIRED = (
    "unknown",
    "ended",
    "device_revoked",
    "user_revoked",
    "account_expired",
)
_API_ERRORS: dict[str, Callable[[], DomogateError]] = {
    _UNKNOWN: Unauthenticated,
    _ENDED: Unauthenticated,
    _DEVICE_REVOKED: Revoked,
    _USER_REVOKED: Revoked,
    _ACCOUNT_EXPIRED: AccountExpired,
}
_LIVE_ERRORS: dict[str, Callable[[], DomogateError]] = {
    _UNKNOWN: lambda: Unauthenticated("Session ended."),
    _ENDED: lambda: Unauthenticated("Session ended."),
    _DEVICE_REVOKED: lambda: Revoked("This device has been revoked."),
    _USER_REVOKED: lambda: Revoked("Access has been revoked."),
    _ACCOUNT_EXPIRED: lambda: AccountExpired("Account expired."),
}


@dataclass(frozen=True)
class IssuedChallenge:
    challenge: str
    expires_at: datetime


@dataclass(frozen=True)
class DeviceProof:
    """A signed challenge sent along with a password login: the device proves its key, so
    others' failures on the account (or from its address) never refuse it."""

    device_id: str
    challenge: str
    signature: str


class AuthService:
    def __init__(self, deps: Deps) -> None:
        self._d = deps
        settings = deps.settings
        self._sessions = SessionRegistry(settings.session_ttl)
        t = settings.throttle
        self._otp_budget = OtpBudget(t.otp_per_source, t.otp_global, t.otp_global_reserve)
        self._pw_source = KeyedBuckets(t.password_per_source)
        self._pw_account = KeyedBuckets(t.password_per_account)
        self._pw_device = KeyedBuckets(t.password_per_device)
        self._challenge_source = KeyedBuckets(t.challenge_per_source)
        self._device_failures = KeyedBuckets(t.device_failures_per_source)
        self._challenges: ExpiringTokens[str] = ExpiringTokens(settings.challenge_ttl)
        self._watches = WatchRegistry(deps.clock, self._deadline_of)
        self._watches.on_due = self._on_due

    @property
    def server_id(self) -> str:
        return self._d.server_id

    # --- password -----------------------------------------------------------------------

    async def login_password(
        self,
        ctx: RequestContext,
        username: str,
        password: str,
        device_name: str,
        public_key: str,
        proof: DeviceProof | None = None,
    ) -> Authenticated:
        """Password sign-in. Unknown devices meet the per-source and per-account limits;
        a device of this account that proves its key (``proof``) has a limit of its own, so
        a stranger's failures never lock the owner out (the OWASP "device cookie")."""
        if not isinstance(username, str) or not isinstance(password, str):
            raise InvalidInput("username and password must be text.")
        account_key = name_key(username)
        device_name = clean_name(device_name, "device name", 100)
        devicekeys.load_public_key(public_key)
        proven = await self._proven_device(ctx, proof, account_key, public_key)
        now_m = self._d.clock.monotonic()
        limits: tuple[tuple[KeyedBuckets, str], ...]
        if proven is not None:
            limits = ((self._pw_device, proven.id),)
        else:
            take_all(now_m, (self._pw_source, source_key(ctx.source)))
            limits = ((self._pw_account, account_key),)
        try:
            # Reserve the attempt before the (slow) check, so that parallel guesses cannot
            # all slip through on the last token; a success gives it back.
            take_all(now_m, *limits)
        except RateLimited:
            # Too many failures for this name: stop checking it for a while. Enrolled
            # devices of the owner keep signing in with their keys meanwhile.
            await self._d.audit.record_failure("login.password", RateLimited.code, ctx)
            raise
        user = await self._d.store.find_user_by_name(username) if account_key else None
        ok = await self._d.passwords.verify(user.password_hash if user else None, password)
        if not ok or user is None:
            # A mistyped username may be a password: record only names that exist.
            await self._d.audit.record_failure(
                "login.password",
                InvalidCredentials.code,
                ctx,
                actor=user,
                target=user.id if user else None,
            )
            raise InvalidCredentials()
        for buckets, key in limits:
            buckets.refund(key, now_m)
        try:
            self._check_user_may_enter(user, ctx)
        except DomogateError as exc:
            await self._d.audit.record("login.password", exc.code, ctx, actor=user)
            raise
        now = self._d.clock.now()
        # The same browser or CLI signing in with its password again (automatic
        # authentication off) keeps its device instead of adding one per sign-in.
        devices = await self._d.store.list_devices(user.id)
        device = next(
            (d for d in devices if d.public_key == public_key and d.revoked_at is None), None
        )
        if device is None and any(d.public_key == public_key for d in devices):
            # A revoked device's key never comes back (it may have leaked): the client
            # must sign in from a fresh key.
            await self._d.audit.record("login.password", Revoked.code, ctx, actor=user)
            raise Revoked("This device's key was revoked; sign in again with a new key.")
        if device is None:
            device = Device(self._d.new_id(), user.id, device_name, public_key, now, now, ctx.path)
            await self._d.store.add_device(device)
        else:
            await self._d.audit.touch(device.id, now, ctx.path)
        auth = self._open(user, device, ctx, now)
        await self._d.audit.record(
            "login.password",
            "ok",
            ctx,
            actor=user,
            target=user.id,
            device_id=device.id,
            proven_device=proven is not None,
        )
        self._d.events.publish(ClientsChanged())
        return auth

    async def _proven_device(
        self, ctx: RequestContext, proof: DeviceProof | None, account_key: str, public_key: str
    ) -> Device | None:
        """The account's live device whose key signed ``proof``'s challenge, or None.

        The login must enrol the same key (a proof from one device does not vouch for a new
        one), and a public key someone copied proves nothing: only a signature does."""
        if proof is None:
            return None
        try:
            device, user = await self._verify_signed_challenge(
                proof.device_id, proof.challenge, proof.signature
            )
        except DomogateError as exc:
            await self._d.audit.record_failure(
                "login.password.proof", exc.code, ctx, device_id=str(proof.device_id)[:64]
            )
            return None
        if (
            user is None
            or user.name is None
            or name_key(user.name) != account_key
            or device.revoked_at is not None
            or device.public_key != public_key
        ):
            return None
        return device

    # --- OTP -----------------------------------------------------------------------------

    async def redeem_otp(
        self,
        ctx: RequestContext,
        typed_otp: str,
        name: str | None,
        device_name: str,
        public_key: str,
    ) -> Authenticated:
        if not self._d.project.system.use_otp_authentication:
            await self._d.audit.record_failure("otp.redeem", OtpDisabled.code, ctx)
            raise OtpDisabled()
        if not isinstance(typed_otp, str):
            raise InvalidInput("otp must be text.")
        canonical = otp_rules.normalise(typed_otp[:64])
        self._otp_budget.take(
            source_key(ctx.source),
            self._d.clock.monotonic(),
            well_formed=otp_rules.is_well_formed(canonical),
        )
        try:
            record, user = await self._find_redeemable(canonical)
            self._check_user_may_enter(user, ctx)
            new_name = user.name
            if user.name is None:
                if name is None:
                    raise InvalidInput("Your name is required.", field="name")
                new_name = clean_name(name, "name")
                clash = await self._d.store.find_user_by_name(new_name)
                if clash is not None and clash.id != user.id:
                    raise Conflict(
                        "This name is already used by someone else; choose another.", field="name"
                    )
            device_name = clean_name(device_name, "device name", 100)
            devicekeys.load_public_key(public_key)
            now = self._d.clock.now()
            named = replace(user, name=new_name)
            device = Device(self._d.new_id(), user.id, device_name, public_key, now, now, ctx.path)
            if not await self._d.store.redeem_otp(record.id, now, named, device):
                latest = await self._d.store.get_user(user.id)
                if latest is None or latest.revoked_at is not None:
                    raise Revoked("This account has been revoked by an administrator.")
                raise OtpUsed()
        except DomogateError as exc:
            # The name was typed by someone not yet let in: store a clean excerpt only.
            await self._d.audit.record_failure(
                "otp.redeem", exc.code, ctx, actor_name=printable_excerpt(name, 64)
            )
            raise
        auth = self._open(named, device, ctx, now)
        await self._d.audit.record(
            "otp.redeem", "ok", ctx, actor=named, target=named.id, device_id=device.id
        )
        self._d.events.publish(ClientsChanged())
        return auth

    async def _find_redeemable(self, canonical: str) -> tuple[OtpRecord, User]:
        if not otp_rules.is_well_formed(canonical):
            raise OtpInvalid()
        record = await self._d.store.find_otp_by_digest(
            otp_rules.digest(self._d.otp_key, canonical)
        )
        if record is None or record.state in (OtpState.REPLACED, OtpState.REVOKED):
            raise OtpInvalid()
        if record.state is OtpState.USED:
            raise OtpUsed()
        now = self._d.clock.now()
        if record.state is OtpState.EXPIRED or now >= record.expires_at:
            if record.state is OtpState.PENDING:
                await self._d.store.finish_otp(record.id, OtpState.EXPIRED, now)
                self._d.events.publish(ClientsChanged())
            raise OtpExpired()
        user = await self._d.store.get_user(record.user_id)
        if user is None:
            raise OtpInvalid()
        return record, user

    # --- device keys ------------------------------------------------------------------

    async def challenge(self, ctx: RequestContext, device_id: str) -> IssuedChallenge:
        if not isinstance(device_id, str) or not 0 < len(device_id) <= 64:
            raise InvalidInput("device_id is missing or malformed.", field="device_id")
        self._challenge_source.take(source_key(ctx.source), self._d.clock.monotonic())
        challenge = secrets.token_urlsafe(24)
        expires = self._challenges.add(
            challenge, device_id, self._d.clock.now(), cap=MAX_LIVE_CHALLENGES
        )
        return IssuedChallenge(challenge, expires)

    async def sign_in_device(
        self,
        ctx: RequestContext,
        device_id: str,
        challenge: str,
        signature: str,
        current_token: str | None = None,
    ) -> Authenticated:
        """Automatic authentication. With it off in the project, a device may still renew
        a session it holds (``current_token``, still open): that is no new start.

        A valid signature always gets in, whatever others did from the same address; a
        failure is charged to the source, and beyond its limit failures answer
        ``rate_limited`` and are counted in the audit log instead of written one by one."""
        try:
            if not self._d.project.system.automatic_authentication and not self._renews(
                current_token, device_id
            ):
                raise AutomaticAuthenticationDisabled()
            device, user = await self._verify_signed_challenge(device_id, challenge, signature)
            if device.revoked_at is not None or user is None:
                raise Revoked()
            self._check_user_may_enter(user, ctx)
        except DomogateError as exc:
            if isinstance(exc, (ChallengeInvalid, SignatureInvalid)):
                source = source_key(ctx.source)
                now_m = self._d.clock.monotonic()
                if self._device_failures.retry_after(source, now_m) > 0:
                    await self._d.audit.record_failure("sign_in.device", RateLimited.code, ctx)
                    raise RateLimited(self._device_failures.retry_after(source, now_m)) from exc
                self._device_failures.take(source, now_m)
            await self._d.audit.record_failure(
                "sign_in.device", exc.code, ctx, device_id=str(device_id)[:64]
            )
            raise
        now = self._d.clock.now()
        await self._d.audit.touch(device.id, now, ctx.path)
        auth = self._open(user, device, ctx, now)
        await self._d.audit.record("sign_in.device", "ok", ctx, actor=user, device_id=device.id)
        return auth

    async def _verify_signed_challenge(
        self, device_id: str, challenge: str, signature: str
    ) -> tuple[Device, User | None]:
        """Consume ``challenge`` and check the device's signature over it (single use)."""
        owner = (
            self._challenges.take(challenge, self._d.clock.now())
            if isinstance(challenge, str)
            else None
        )
        if owner is None or owner != device_id:
            raise ChallengeInvalid()
        found = await self._d.store.get_device_and_user(device_id)
        if found is None:
            raise SignatureInvalid()
        device, user = found
        message = devicekeys.challenge_message(self._d.server_id, device_id, challenge)
        if not isinstance(signature, str) or not devicekeys.verify(
            device.public_key, message, signature
        ):
            raise SignatureInvalid()
        return device, user

    def _renews(self, token: str | None, device_id: str) -> bool:
        if not token:
            return False
        try:
            session = self._sessions.get(token, self._d.clock.now())
        except DomogateError:
            return False
        return session.device_id == device_id

    # --- sessions: the one place that decides whether one may continue --------------------

    async def authenticate(self, token: str, ctx: RequestContext) -> Caller:
        """The caller behind a session token, re-checked against the account's state."""
        session = self._sessions.get(token, self._d.clock.now())
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

    async def me(self, caller: Caller) -> Authenticated:
        """The caller with its device (``GET /api/me``; no token shown again)."""
        device = await self._d.store.get_device(caller.session.device_id)
        if device is None:
            raise Unauthenticated()
        return Authenticated("", caller.session, caller.user, device)

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

    # --- helpers ----------------------------------------------------------------------

    def _check_user_may_enter(self, user: User, ctx: RequestContext) -> None:
        now = self._d.clock.now()
        if user.revoked_at is not None:
            raise Revoked("This account has been revoked by an administrator.")
        if user.is_account_expired(now):
            raise AccountExpired()
        if ctx.path not in user.allowed_paths:
            raise PathNotAllowed()

    def _open(
        self, user: User, device: Device, ctx: RequestContext, now: datetime
    ) -> Authenticated:
        token, session = self._sessions.open(user.id, device.id, ctx.path, ctx.source, now)
        return Authenticated(token, session, user, device)
