"""Published versions at a cloud (``docs/cloud-publish.md``, "The cloud"): publish and
list with the installation's cloud password, and what a control link asks of them (the
latest, one version's bytes, the server's report).

The password (HTTP Basic ``NAME:CLOUD_PASSWORD``) is checked like a claim's
(``installations.py``), with buckets of its own:

1. the attempt is charged to its source address (IPv6 by /64) and to the name before
   anything is looked up (``rate_limited`` with ``retry_after`` otherwise, audited);
2. Argon2id verifies it against the claim's hash; an unknown or unclaimed name is verified
   against the hasher's dummy hash, so it costs the same work and gives the same
   ``cloud_password_invalid`` (names cannot be probed); failures are audited, aggregated
   per minute;
3. a right password gives the attempt back.

Then the cloud's own checks (``core/cloudversions.py``), the store's conditional insert,
an audit row, and the listeners (the link hub tells the linked server at once).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from domogate.core import cloudwire
from domogate.core.cloudversions import (
    StoredVersion,
    VersionInfo,
    VersionReport,
    VersionResult,
    check_upload,
    not_newer,
)
from domogate.core.throttle import BucketSpec, source_key
from domogate.errors import CloudPasswordInvalid, DomogateError, InvalidInput, RateLimited
from domogate.services.cloud.audit import CloudAudit
from domogate.services.cloud.installations import MAX_PASSWORD
from domogate.services.hashing import PasswordWorker
from domogate.services.ports import Clock, CloudStore
from domogate.services.throttling import KeyedBuckets, take_all

log = logging.getLogger("domogate.cloud.versions")

MAX_LISTED = 100
TRUSTED_SOURCE_S = 30 * 24 * 3600.0  # a source that published skips the name's allowance
MAX_TRUSTED_SOURCES = 65536

VersionListener = Callable[[VersionInfo], None]


@dataclass(frozen=True)
class PublishLimits:
    """Password attempts at the versions API: per source address and per name."""

    per_source: BucketSpec = BucketSpec(capacity=10, rate=10 / 60)
    per_name: BucketSpec = BucketSpec(capacity=5, rate=5 / 60)


@dataclass(frozen=True)
class Upload:
    """A publish request's decoded body."""

    manifest: bytes
    signature: bytes
    content: bytes


@dataclass(frozen=True)
class Publisher:
    """Proof that a request gave ``installation``'s cloud password (only
    :meth:`CloudVersions.authenticate` makes one)."""

    installation: str
    source: str | None


@dataclass(frozen=True)
class Published:
    installation: str
    version: int
    digest: str
    size: int


class CloudVersions:
    def __init__(
        self,
        store: CloudStore,
        passwords: PasswordWorker,
        clock: Clock,
        audit: CloudAudit,
        *,
        limits: PublishLimits | None = None,
    ) -> None:
        self._store = store
        self._passwords = passwords
        self._clock = clock
        self._audit = audit
        limits = limits or PublishLimits()
        self._per_source = KeyedBuckets(limits.per_source)
        self._per_name = KeyedBuckets(limits.per_name)
        # (name, source key) → until when that source skips the name's allowance
        self._trusted: OrderedDict[tuple[str, str], float] = OrderedDict()
        self._listeners: list[VersionListener] = []

    def subscribe(self, listener: VersionListener) -> None:
        """Call ``listener`` with every version stored from now on."""
        self._listeners.append(listener)

    # --- the password ------------------------------------------------------------------

    async def authenticate(self, name: str, password: str, source: str | None) -> Publisher:
        """A :class:`Publisher` of the installation when ``password`` is its cloud
        password; ``rate_limited`` or ``cloud_password_invalid`` (raised, audited)
        otherwise. The API calls it before it reads a body."""
        name = cloudwire.check_name(name)
        if not password or len(password) > MAX_PASSWORD:
            raise InvalidInput(
                f"Send the cloud password (1 to {MAX_PASSWORD} characters) with HTTP Basic "
                "auth: NAME:CLOUD_PASSWORD.",
                field="password",
            )
        mono = self._clock.monotonic()
        where = source_key(source or "")
        buckets = [(self._per_source, where)]
        # The name's allowance is what strangers could spend against its owner: a source
        # that published for this name lately does not draw on it (its own bucket stays).
        if self._trusted.get((name, where), -1.0) < mono:
            buckets.append((self._per_name, name))
        try:
            take_all(mono, *buckets)
        except RateLimited:
            await self._audit.record_failure("versions_throttled", name, source)
            raise
        record = await self._store.get_installation(name)
        known = record.password_hash if record is not None and record.claimed else None
        ok = await self._passwords.verify(known, password)  # None: the dummy hash, same work
        if not ok or known is None:
            await self._audit.record_failure("versions_password_invalid", name, source)
            raise CloudPasswordInvalid()
        self._per_source.refund(where, mono)
        if len(buckets) > 1:
            self._per_name.refund(name, mono)
        self._remember(name, where, mono)
        return Publisher(name, source)

    def _remember(self, name: str, where: str, mono: float) -> None:
        self._trusted[(name, where)] = mono + TRUSTED_SOURCE_S
        self._trusted.move_to_end((name, where))
        while len(self._trusted) > MAX_TRUSTED_SOURCES:
            self._trusted.popitem(last=False)

    # --- the API -----------------------------------------------------------------------

    async def publish(self, publisher: Publisher, upload: Upload) -> Published:
        """Store a new version of the publisher's installation (checked:
        docs/cloud-publish.md) and tell the listeners."""
        name, source = publisher.installation, publisher.source
        latest = await self._store.latest_version(name)
        held = latest.version if latest is not None else 0
        try:
            manifest, fingerprint = await asyncio.to_thread(  # a 64 MiB digest: off the loop
                check_upload, name, upload.manifest, upload.signature, upload.content, latest=held
            )
            info = VersionInfo(
                installation=name,
                version=manifest.version,
                digest=manifest.digest,
                size=len(upload.content),
                published_at=manifest.published_at,
                publisher_key_fingerprint=fingerprint,
                stored_at=self._clock.now(),
            )
            stored = StoredVersion(info, upload.manifest, upload.signature, upload.content)
            newer = await self._store.add_version(stored)
            if newer is not None:  # another upload landed in between
                not_newer(manifest.version, newer)
        except DomogateError as exc:
            await self._audit.record_failure("publish_refused", name, source, code=exc.code)
            raise
        await self._audit.record(
            "publish",
            name,
            source,
            version=info.version,
            digest=info.digest,
            size=info.size,
            publisher_key_fingerprint=fingerprint,
        )
        for listener in list(self._listeners):
            try:
                listener(info)
            except Exception:  # a listener's bug must not undo a stored version
                log.exception("version listener failed for %s", name)
        return Published(name, info.version, info.digest, info.size)

    async def list(self, publisher: Publisher) -> list[VersionInfo]:
        """The publisher's installation's versions, newest first."""
        return await self._store.list_versions(publisher.installation, limit=MAX_LISTED)

    # --- the control link (its installation proved by the link's signature) -------------

    async def latest(self, name: str) -> VersionInfo | None:
        return await self._store.latest_version(name)

    async def fetch(self, name: str, version: int) -> StoredVersion | None:
        return await self._store.get_version(name, version)

    async def report(self, name: str, result: VersionResult, *, source: str | None) -> bool:
        """Record a server's ``version_result`` as its version's report (audited); False
        when the cloud does not hold that version."""
        report = VersionReport(result.applied, result.code, result.message, self._clock.now())
        if not await self._store.set_version_report(name, result.version, report):
            await self._audit.record_failure(
                "version_result_unknown", name, source, version=result.version
            )
            return False
        await self._audit.record(
            "version_result",
            name,
            source,
            version=result.version,
            applied=result.applied,
            code=result.code,
        )
        return True
