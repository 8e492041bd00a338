"""Installations at a cloud: authorise a control link (claim or link), and the operator's
add, list and release (``docs/cloud.md``, "Claiming").

A hello is checked in this order, so that nothing expensive or revealing happens before
the sender proved its key:

1. the signature over ``cloudwire.link_message(nonce, the cloud's fingerprint, name)``
   (``signature_invalid``);
2. the name must be the one derived from that key (``cloudwire.cloud_name``;
   ``cloud_name_mismatch``): a stranger cannot claim a house's name first, nor spend the
   name's password allowance;
3. the claim rule (``core/cloudclaims.py``): the owner links without a password; another
   key gets ``cloud_taken``; an unclaimed name needs a password (``cloud_claim_required``)
   and, on an invite-only cloud, the operator's invitation (``cloud_not_invited``);
4. a password attempt is charged to its source address and to the name before the
   password is looked at (``rate_limited`` with ``retry_after`` otherwise), then verified
   with Argon2id (``cloud_password_invalid``, audited), and refunded when right.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from domogate.core import cloudwire
from domogate.core.cloudclaims import Installation, LinkStep, link_step
from domogate.core.throttle import BucketSpec, source_key
from domogate.errors import (
    CloudNameMismatch,
    CloudPasswordInvalid,
    CloudTaken,
    Conflict,
    DomogateError,
    InvalidInput,
    NotFound,
    RateLimited,
    SignatureInvalid,
)
from domogate.services.cloud.audit import CloudAudit
from domogate.services.hashing import PasswordWorker
from domogate.services.ports import Clock, CloudStore
from domogate.services.throttling import KeyedBuckets, take_all

MAX_PASSWORD = 1024  # characters


@dataclass(frozen=True)
class ClaimLimits:
    """Password attempts at claiming: per source address (IPv6 by /64) and per name."""

    per_source: BucketSpec = BucketSpec(capacity=10, rate=10 / 60)
    per_name: BucketSpec = BucketSpec(capacity=5, rate=5 / 60)


@dataclass(frozen=True)
class LinkHello:
    """The server's ``{"type": "hello"}`` of a control link."""

    name: str
    public_key: str
    signature: str
    password: str | None

    @classmethod
    def from_message(cls, message: Any) -> LinkHello:
        if not isinstance(message, dict) or message.get("type") != "hello":
            raise InvalidInput('Expected {"type": "hello", ...} after the challenge.')
        fields: dict[str, str] = {}
        for key in ("name", "public_key", "signature"):
            value = message.get(key)
            if not isinstance(value, str) or not value or len(value) > 256:
                raise InvalidInput(f"hello.{key} must be a non-empty string.", field=key)
            fields[key] = value
        password = message.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            raise InvalidInput("hello.password must be a string or null.", field="password")
        if password is not None and len(password) > MAX_PASSWORD:
            raise InvalidInput("hello.password is too long.", field="password")
        return cls(fields["name"], fields["public_key"], fields["signature"], password)


@dataclass(frozen=True)
class Linked:
    installation: Installation
    claimed_now: bool


def _check_password(password: str) -> str:
    if not password or len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"The cloud password must have 1 to {MAX_PASSWORD} characters.", field="password"
        )
    return password


class CloudInstallations:
    def __init__(
        self,
        store: CloudStore,
        passwords: PasswordWorker,
        clock: Clock,
        audit: CloudAudit,
        *,
        invite_only: bool = False,
        limits: ClaimLimits | None = None,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock
        self._audit = audit
        self.invite_only = invite_only
        limits = limits or ClaimLimits()
        self._per_source = KeyedBuckets(limits.per_source)
        self._per_name = KeyedBuckets(limits.per_name)

    # --- the control link --------------------------------------------------------------

    async def authorise_link(
        self, hello: LinkHello, *, nonce: bytes, fingerprint: str, source: str | None
    ) -> Linked:
        """Check a hello; the installation it may link as, or the refusal (raised)."""
        name = cloudwire.check_name(hello.name)
        key = cloudwire.parse_public_key(hello.public_key)
        key_text = cloudwire.public_key_text(key)
        if not cloudwire.verify_link(key, hello.signature, nonce, fingerprint, name):
            await self._audit.record_failure("signature_invalid", name, source)
            raise SignatureInvalid()
        if not cloudwire.name_fits_key(name, key):  # before any claim or throttle
            code = CloudNameMismatch.code
            await self._audit.record_failure("link_refused", name, source, code=code)
            raise CloudNameMismatch()
        record = await self._store.get_installation(name)
        try:
            step = link_step(
                record,
                key_text,
                has_password=hello.password is not None,
                invite_only=self.invite_only,
            )
        except DomogateError as exc:
            await self._audit.record_failure("link_refused", name, source, code=exc.code)
            raise
        now = self._clock.now()
        if step is LinkStep.OWNER:
            assert record is not None
            await self._store.touch_installation(name, now, source)
            await self._audit.record("link", name, source)
            return Linked(record, claimed_now=False)
        assert hello.password is not None
        return await self._claim(name, key_text, hello.password, record, source)

    async def _claim(
        self,
        name: str,
        key_text: str,
        password: str,
        record: Installation | None,
        source: str | None,
    ) -> Linked:
        mono = self._clock.monotonic()
        where = source_key(source or "")
        try:
            take_all(mono, (self._per_source, where), (self._per_name, name))
        except RateLimited:
            await self._audit.record_failure("claim_throttled", name, source)
            raise
        now = self._clock.now()
        if record is not None:  # invited: the operator's password
            ok = await self._passwords.verify(record.password_hash, password)
            if not ok:
                await self._audit.record_failure("password_invalid", name, source)
                raise CloudPasswordInvalid()
            assert record.password_hash is not None
            won = await self._store.claim_invited(name, key_text, record.password_hash, now, source)
            claimed = Installation(
                name, record.password_hash, key_text, True, record.created_at, now, now, source
            )
        else:  # open cloud: the first password claims the name
            password_hash = await self._passwords.hash(password)
            claimed = Installation(name, password_hash, key_text, False, now, now, now, source)
            won = await self._store.add_installation(claimed)
        if not won:  # another server's claim landed in between
            await self._audit.record_failure("link_refused", name, source, code=CloudTaken.code)
            raise CloudTaken()
        self._per_source.refund(where, mono)
        self._per_name.refund(name, mono)
        await self._audit.record("claim", name, source, invited=claimed.invited)
        return Linked(claimed, claimed_now=True)

    # --- the operator ------------------------------------------------------------------

    async def add(self, name: str, password: str) -> Installation:
        """Invite ``name`` with its cloud password (what its server must send to claim)."""
        name = cloudwire.check_name(name)
        password_hash = await self._passwords.hash(_check_password(password))
        record = Installation(name, password_hash, None, True, self._clock.now())
        if not await self._store.add_installation(record):
            raise Conflict(
                f"The installation {name} exists already; release it first "
                f"(domogate cloud installations release {name})."
            )
        await self._audit.record("add", name, None)
        return record

    async def list(self) -> list[Installation]:
        return await self._store.list_installations()

    async def release(self, name: str) -> None:
        """Forget the claim on ``name``: another key may claim it (an invited name with the
        operator's password again; any other name is forgotten)."""
        name = cloudwire.check_name(name)
        if not await self._store.release_installation(name):
            raise NotFound(f"No installation named {name} at this cloud.")
        await self._audit.record("release", name, None)
