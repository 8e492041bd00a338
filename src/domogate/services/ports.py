"""Ports: everything the services need from the outside world, in one place.

``storage/`` implements :class:`AccountStore` (SQLite by default, PostgreSQL for the
cloud); ``bus/`` implements :class:`Bus`; ``security/`` the :class:`Sealer` and the
:class:`PasswordHasher`; the data folder the :class:`SetupCodes`. The composition root
(``domogate/assembly.py``) plugs them in; tests use the same store on a temporary SQLite
file and the fakes of ``tests/fakes.py``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
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
from domogate.core.cloudclaims import CloudAuditEvent, Installation
from domogate.core.cloudversions import StoredVersion, VersionInfo, VersionReport
from domogate.core.project import ProjectObject
from domogate.core.values import JsonValue

IdSource = Callable[[], str]
"""A fresh unique id (hex) for users, devices and OTP records."""

TokenSource = Callable[[], str]
"""A fresh unguessable token (256 bits, URL-safe) for sessions."""

RandBelow = Callable[[int], int]
"""``randbelow(n)``: a uniform integer in ``[0, n)`` from a CSPRNG (OTP generation)."""


class Clock(Protocol):
    def now(self) -> datetime:
        """Aware UTC datetime."""

    def monotonic(self) -> float:
        """Seconds, for throttling and short timeouts."""


class AccountStore(Protocol):
    """Users, devices, OTPs. Every write of a user's name (``add_user``, ``update_user``,
    ``add_otp``'s ``new_user``, ``redeem_otp``) raises ``core.names.name_taken`` when another
    user has that name: the one check of name uniqueness (services do not repeat it)."""

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
        meta: Mapping[str, str] | None = None,
    ) -> None:
        """Store the version, upsert/delete users and make it current, all or nothing;
        ``meta`` keys (the publisher key, the published version) move in the same
        transaction.

        ``before_commit`` runs inside the transaction after every write (crash tests)."""

    async def get_meta(self, key: str) -> str | None:
        """A server-wide value (``publisher_key``, ``published_version``), or None."""

    async def set_meta(self, key: str, value: str) -> None: ...

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


# --- secrets ----------------------------------------------------------------------------


class Sealer(Protocol):
    """Authenticated encryption of a pending OTP, so that admins may display it again."""

    def seal(self, plaintext: str) -> bytes: ...
    def open(self, sealed: bytes) -> str: ...


class PasswordHasher(Protocol):
    """Argon2id (parameters recorded in the hash); slow and blocking, so the services run
    it in a bounded pool (``services/hashing.py``)."""

    def hash(self, password: str) -> str: ...
    def verify(self, password_hash: str | None, password: str) -> bool:
        """False for a wrong password and for no hash at all, at the same cost."""

    def is_well_formed_hash(self, value: str) -> bool:
        """Whether ``value`` is a usable Argon2 hash (checked in every deployed project)."""


class SetupCodes(Protocol):
    """The setup code printed at the server's first start (the data folder keeps it)."""

    def check_setup_code(self, typed: str) -> bool: ...
    def discard_setup_code(self) -> None: ...


# --- the bus ------------------------------------------------------------------------------
# A bus speaks in group addresses (``"1/2/3"``), datapoint types (``"9.001"``) and JSON
# values (see :mod:`domogate.core.values`); payload encoding stays inside the adapter
# (``bus/simulated.py``, ``bus/knx.py``).


@dataclass(frozen=True)
class BusStatus:
    """How the bus is doing, as shown to admins."""

    adapter: str  # "simulated" or "knx"
    connected: bool
    detail: str = ""  # e.g. "tunnelling to 127.0.0.1:3671" or why it is down


class BusListener(Protocol):
    """What the bus reports to the services (called on the event loop; must not block)."""

    def on_value(self, address: str, value: JsonValue) -> None:
        """A GroupValueWrite or GroupValueResponse seen on ``address``, decoded with the
        datapoint type given for it by :meth:`Bus.configure`."""

    def on_status(self, status: BusStatus) -> None:
        """The connection went up or down (also called once at start)."""


class Bus(Protocol):
    @property
    def status(self) -> BusStatus: ...

    async def start(self, listener: BusListener) -> None:
        """Begin connecting (returns without waiting for the connection) and keep
        reconnecting on its own until :meth:`stop`."""

    async def configure(self, objects: Sequence[ProjectObject]) -> None:
        """The deployed project's objects: which addresses to decode (and as what), and
        which state addresses to read, now if connected and again after each reconnect.
        The simulated bus also builds its building from them."""

    async def write(self, address: str, dpt: str, value: JsonValue) -> None:
        """Send a GroupValueWrite. Returns once it is handed to the bus; raises
        :class:`~domogate.errors.BusUnavailable` at once when the bus is down and
        :class:`~domogate.errors.ValueInvalid` when the value does not fit ``dpt``."""

    async def stop(self) -> None:
        """Disconnect and stop reconnecting."""


# --- the cloud ------------------------------------------------------------------------------
# ``cloud/link.py`` implements :class:`CloudLink`: the home server's control link to the
# cloud and its pool connections (docs/cloud.md, "The home server's link").


@dataclass(frozen=True)
class CloudTarget:
    """Which cloud to link to, from the deployed project's ``system.cloud``."""

    address: str  # HOST[:PORT]
    fingerprint: str | None  # lower-case hex SHA-256 of the cloud's certificate, if pinned
    password: str = field(repr=False)  # the installation's cloud password: never logged


CLOUD_DISABLED, CLOUD_CONNECTING, CLOUD_LINKED, CLOUD_ERROR, CLOUD_RELEASED = (
    "disabled",
    "connecting",
    "linked",
    "error",
    "released",
)


@dataclass(frozen=True)
class CloudLinkState:
    """How the link to the cloud is doing, as shown to admins."""

    status: str  # one of CLOUD_DISABLED … CLOUD_RELEASED
    name: str | None = None  # the installation's cloud name
    url: str | None = None  # https://NAME.ZONE[:PORT], once linked
    relay: str | None = None  # HOST:PORT clients dial for it, once linked
    code: str | None = None  # why it is in error (the cloud's code, or the link's own)
    message: str | None = None
    # The ACME directory the cloud told (its welcome's ``acme_directory``), once linked.
    acme_directory: str | None = None


CloudLinkReport = Callable[[CloudLinkState], None]


# ``cloud/acme/`` implements :class:`CertificateKeeper`: a CA-trusted certificate for the
# cloud name, obtained by ACME (TLS-ALPN-01 through the relay) and renewed.
CERT_NONE, CERT_OBTAINING, CERT_VALID, CERT_FAILED = "none", "obtaining", "valid", "failed"


@dataclass(frozen=True)
class CloudCertificate:
    """The cloud name's ACME certificate, as shown to admins.

    ``state``: ``none`` (no ACME directory told: the self-signed certificate is served),
    ``obtaining`` (no certificate yet, asking), ``valid`` (held and served to browsers;
    ``message`` set when its last renewal failed), ``failed`` (none held, the last attempt
    failed: the self-signed certificate is served meanwhile, ``message`` says why)."""

    state: str
    host: str | None = None  # NAME.ZONE
    issuer: str | None = None  # the issuer's distinguished name (RFC 4514)
    not_after: datetime | None = None
    message: str | None = None


CertificateReport = Callable[[CloudCertificate], None]


class CertificateKeeper(Protocol):
    """Obtains and renews the cloud name's certificate; retries with backoff on its own."""

    def keep(self, host: str, directory: str, report: CertificateReport) -> None:
        """Keep a certificate for ``host`` from the ACME directory at ``directory`` from
        now on (returns at once; the same pair again changes nothing); every change of
        state goes to ``report`` on the event loop."""

    async def stop(self) -> None:
        """Stop asking and serving the certificate (the files stay)."""


class CloudLink(Protocol):
    """The control link and its pool connections; reconnects on its own until stopped."""

    @property
    def name(self) -> str:
        """The installation's cloud name (``core.cloudwire.cloud_name`` of its link key)."""

    def start(self, target: CloudTarget, report: CloudLinkReport) -> None:
        """Begin linking (returns at once); every change of state goes to ``report``
        (on the event loop; it must not block). A ``released`` link stops by itself."""

    async def stop(self) -> None:
        """Close the control link and every pool connection now."""

    # Published versions (``docs/cloud-publish.md``): the link tells, fetches, reports.
    def on_version_available(self, listener: VersionListener) -> None:
        """Call ``listener`` (on the event loop; it must not block) for every
        ``version_available`` the cloud sends, on any link from now on."""

    async def fetch_version(self, version: int) -> PublishedVersion:
        """Ask the cloud for ``version`` over the control link (``get_version``);
        ``UpdateUnavailable`` when there is no link, the cloud does not hold it, or it
        does not answer in time."""

    def report_version(self, report: VersionResult) -> None:
        """Send ``version_result`` (returns at once; kept until a link is up)."""


@dataclass(frozen=True)
class VersionNotice:
    """A cloud's ``version_available``: it holds ``version`` (its latest)."""

    version: int
    digest: str | None = None
    published_at: str | None = None  # ISO-8601, as the cloud sent it


VersionListener = Callable[[VersionNotice], None]


@dataclass(frozen=True)
class PublishedVersion:
    """A version as the cloud gave it: untrusted until ``core.publishing.check_version``."""

    version: int
    manifest: bytes = field(repr=False)
    signature: bytes = field(repr=False)
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class VersionResult:
    """The server's ``version_result``: applied, or refused with an error's code."""

    version: int
    applied: bool
    code: str | None = None
    message: str | None = None


# --- the cloud (``domogate cloud serve``) --------------------------------------------------
# The cloud's control plane has a database of its own (``storage/cloud``): installation
# names with their claims, and its audit trail. The server's ports above are not used there.


class CloudStore(Protocol):
    async def get_installation(self, name: str) -> Installation | None: ...
    async def list_installations(self) -> list[Installation]: ...
    async def add_installation(self, installation: Installation) -> bool:
        """Insert a row; False (nothing changed) when the name exists already."""

    async def claim_invited(
        self, name: str, public_key: str, password_hash: str, at: datetime, source: str | None
    ) -> bool:
        """Bind ``public_key`` to the unclaimed name whose stored hash is still
        ``password_hash`` (the one just verified); False when another claim won."""

    async def touch_installation(self, name: str, at: datetime, source: str | None) -> None:
        """Note a successful link: ``last_linked_at`` and ``last_source``."""

    async def release_installation(self, name: str) -> bool:
        """Forget the claim: a claimed invited name goes back to invited (its operator
        password kept); any other row (an open claim, an unclaimed invitation) is deleted.
        False when the name is unknown."""

    async def append_cloud_audit(self, events: Sequence[CloudAuditEvent]) -> None: ...
    async def list_cloud_audit(self, *, limit: int = 200) -> list[CloudAuditEvent]:
        """Newest first."""

    async def add_version(self, version: StoredVersion) -> int | None:
        """Store a version unless the installation holds it or a newer one already (one
        transaction): None when stored, else the latest version number held."""

    async def list_versions(self, installation: str, *, limit: int = 100) -> list[VersionInfo]:
        """Newest first, without their bytes."""

    async def latest_version(self, installation: str) -> VersionInfo | None: ...
    async def get_version(self, installation: str, version: int) -> StoredVersion | None: ...
    async def set_version_report(
        self, installation: str, version: int, report: VersionReport
    ) -> bool:
        """Record the server's report of a version (replacing an earlier one); False when
        the version is unknown."""

    async def close(self) -> None: ...
