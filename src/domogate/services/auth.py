"""Use cases that let someone in: password login, OTP redemption, device sign-in.

Who may then continue (session checks, live holders, revocation) is decided by
:class:`~domogate.services.access.SessionAccess`; :class:`AuthService` delegates to it.

Every way in is throttled, audited, and answers failures without saying which part of a
credential was wrong.
"""

from __future__ import annotations

import secrets
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
from domogate.services.access import SessionAccess
from domogate.services.context import Authenticated, Caller, RequestContext
from domogate.services.deps import Deps
from domogate.services.events import ClientsChanged
from domogate.services.throttling import KeyedBuckets, OtpBudget, take_all
from domogate.services.tokens import ExpiringTokens
from domogate.services.watch import AccessListener, Watch

MAX_LIVE_CHALLENGES = 50_000


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
        self._access = SessionAccess(deps)
        t = settings.throttle
        self._otp_budget = OtpBudget(t.otp_per_source, t.otp_global, t.otp_global_reserve)
        self._pw_source = KeyedBuckets(t.password_per_source)
        self._pw_account = KeyedBuckets(t.password_per_account)
        self._pw_device = KeyedBuckets(t.password_per_device)
        self._challenge_source = KeyedBuckets(t.challenge_per_source)
        self._device_failures = KeyedBuckets(t.device_failures_per_source)
        self._challenges: ExpiringTokens[str] = ExpiringTokens(settings.challenge_ttl)

    @property
    def access(self) -> SessionAccess:
        """Who may continue (sessions and their live holders)."""
        return self._access

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
        canonical = otp_rules.read_typed(typed_otp)
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
                new_name = clean_name(name, "name")  # another's name: the store refuses it
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
            if not self._d.project.system.automatic_authentication and not self._access.renews(
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

    # --- sessions: decided in services/access.py -------------------------------------------

    async def authenticate(self, token: str, ctx: RequestContext) -> Caller:
        """The caller behind a session token, re-checked against the account's state
        (:meth:`SessionAccess.authenticate`)."""
        return await self._access.authenticate(token, ctx)

    async def me(self, caller: Caller) -> Authenticated:
        """The caller with its device (``GET /api/me``; no token shown again)."""
        device = await self._d.store.get_device(caller.session.device_id)
        if device is None:
            raise Unauthenticated()
        return Authenticated("", caller.session, caller.user, device)

    def is_live_token(self, token: str) -> bool:
        """Whether ``token`` is an open session (nothing else checked: the routes do)."""
        return self._access.is_live_token(token)

    def logout(self, token: str) -> None:
        self._access.logout(token)

    def purge_expired(self) -> None:
        """Forget sessions past their end (their holders were told by their deadline)."""
        self._access.purge_expired()

    def end_devices(self, device_ids: frozenset[str]) -> None:
        """These devices were revoked: end their sessions and live connections now."""
        self._access.end_devices(device_ids)

    def user_changed(self, user: User) -> None:
        """An account changed here (admin flag, …): tell its live connections."""
        self._access.user_changed(user)

    def watch(self, caller: Caller, listener: AccessListener) -> Watch:
        """Register a live holder of ``caller``'s session (:meth:`SessionAccess.watch`)."""
        return self._access.watch(caller, listener)

    def unwatch(self, watch: Watch) -> None:
        self._access.unwatch(watch)

    async def recheck_live(self, announce: bool = True) -> None:
        """Decide again for every live holder, from the store
        (:meth:`SessionAccess.recheck_live`)."""
        await self._access.recheck_live(announce)

    # --- helpers ----------------------------------------------------------------------

    def _check_user_may_enter(self, user: User, ctx: RequestContext) -> None:
        now = self._d.clock.now()
        if user.revoked_at is not None:
            raise Revoked("This account has been revoked by an administrator.")
        if user.is_account_expired(now):
            raise AccountExpired()
        if ctx.path not in user.allowed_paths:
            allowed = ", ".join(sorted(p.value for p in user.allowed_paths)) or "none"
            raise PathNotAllowed(
                f"This account may not connect through the {ctx.path.value} path (allowed: "
                f"{allowed}). Connect on an allowed path, or ask an admin to allow this one "
                "in Manage clients.",
                path=ctx.path.value,
            )

    def _open(
        self, user: User, device: Device, ctx: RequestContext, now: datetime
    ) -> Authenticated:
        return self._access.open(user, device, ctx, now)
