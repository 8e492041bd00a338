"""Server settings, passed explicitly (``create_app(settings, services)``).

Nothing reads the environment here: the CLI builds a :class:`ServerSettings` from its
flags, tests build one with cheap Argon2 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from domogate.core.throttle import BucketSpec


@dataclass(frozen=True)
class Argon2Parameters:
    """Argon2id cost parameters (pure data; ``security/passwords.py`` hashes with them).
    The defaults are argon2-cffi's RFC 9106 low-memory profile
    (``argon2.profiles.RFC_9106_LOW_MEMORY``; tests/security/test_argon2_defaults.py checks
    that they still agree), written out so that settings need not import argon2."""

    time_cost: int = 3
    memory_cost: int = 65536  # KiB
    parallelism: int = 4

    @classmethod
    def cheap_for_tests(cls) -> Argon2Parameters:
        return cls(time_cost=1, memory_cost=64, parallelism=1)


@dataclass(frozen=True)
class ThrottleSettings:
    """OTP redemption attempts, per source and in total (see docs/security.md).

    The defaults keep the chance of hitting any of 100 pending OTPs, each valid at most
    ``ServerSettings.otp_max_validity`` (24 h), under one in a million.
    """

    otp_per_source: BucketSpec = BucketSpec(capacity=10, rate=1 / 6)
    # The global OTP budget (well-formed guesses only) is split in two: a shared part, and
    # a reserve that only sources without a recent failure may use, so that a few flooding
    # addresses cannot starve a newcomer. Together: 60 at once, then 1 per second.
    otp_global: BucketSpec = BucketSpec(capacity=40, rate=0.7)
    otp_global_reserve: BucketSpec = BucketSpec(capacity=20, rate=0.3)
    # Password logins: per source, and per account name (failures only). A device that
    # proves its key meets neither: it has a limit of its own (the "device cookie").
    password_per_source: BucketSpec = BucketSpec(capacity=10, rate=1 / 6)
    password_per_account: BucketSpec = BucketSpec(capacity=10, rate=1 / 30)
    password_per_device: BucketSpec = BucketSpec(capacity=10, rate=1 / 30)
    # The service password and the setup code: one secret, one limit wherever it is
    # checked (deploy, maintenance page): per source and in total; sources on the server's
    # own machine have a total of their own, so remote failures never lock them out.
    service_per_source: BucketSpec = BucketSpec(capacity=10, rate=1 / 6)
    service_global: BucketSpec = BucketSpec(capacity=10, rate=1 / 30)
    service_local: BucketSpec = BucketSpec(capacity=10, rate=1 / 30)

    def otp_guesses_within(self, window_s: float) -> float:
        """At most this many OTP guesses are evaluated over any window (the bound)."""
        return self.otp_global.max_attempts(window_s) + self.otp_global_reserve.max_attempts(
            window_s
        )

    # Device sign-in challenges per source (cheap, high: automatic sign-in storms are legit).
    challenge_per_source: BucketSpec = BucketSpec(capacity=100, rate=20.0)
    # Failed device sign-ins per source: beyond this, failures answer rate_limited and are
    # counted in one audit row per minute instead of a row each.
    device_failures_per_source: BucketSpec = BucketSpec(capacity=20, rate=1 / 3)
    # Commands to objects per user (WebSocket and REST together): a person taps, a script
    # may burst, nobody floods the bus for the others.
    commands_per_user: BucketSpec = BucketSpec(capacity=50, rate=20.0)


@dataclass(frozen=True)
class KnxSettings:
    """How the server reaches the KNX bus (server side, never in the project).

    ``connection``: ``tunneling`` (UDP), ``tunneling_tcp``, ``routing`` (multicast) or
    ``automatic`` (gateway discovery). ``keyring`` and ``keyring_password`` enable KNX IP
    Secure (an ETS keyring file).
    """

    connection: str = "tunneling"
    gateway_host: str | None = None
    gateway_port: int = 3671
    local_ip: str | None = None
    individual_address: str | None = None
    multicast_group: str = "224.0.23.12"
    keyring: Path | None = None
    keyring_password: str | None = field(default=None, repr=False)
    reconnect_interval_s: float = 3.0
    connect_timeout_s: float = 5.0


@dataclass(frozen=True)
class BusSettings:
    adapter: str = "simulated"  # "simulated" or "knx"
    knx: KnxSettings = field(default_factory=KnxSettings)
    # Simulated building: 1.0 is real time (a shutter takes ~20 s end to end); tests speed it up.
    simulation_speed: float = 1.0


@dataclass(frozen=True)
class ConnectionLimits:
    """Connection-level guards (see docs/security.md, "Connection limits").

    Sized for a building: 10,000 clients in total fit, a few hundred panels behind one
    NAT are unlikely. ``total`` and ``per_address`` count TCP connections (HTTP and
    WebSocket alike; IPv6 addresses by /64); the server lowers them to what its
    open-file limit allows. The ``ws_*`` caps count WebSockets on ``/api/ws``.
    """

    # A connection must finish its TLS handshake and its request head within this time;
    # a later request head must finish within it once its first byte arrived.
    head_timeout_s: float = 10.0
    total: int = 12_000
    per_address: int = 256
    # Over-cap clients answered with a 503 at the same time (each costs a TLS handshake);
    # beyond that an over-cap connection is closed before TLS.
    refusals: int = 64
    # A new connection at a cap may close the oldest connection of the same scope that
    # has not sent a request head after this many seconds (idle slots are not kept).
    evict_idle_after_s: float = 1.0
    ws_unauthenticated: int = 1_000
    ws_unauthenticated_per_address: int = 32
    ws_per_device: int = 8
    ws_per_address: int = 192


@dataclass(frozen=True)
class ServerSettings:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 7550
    insecure_http: bool = False
    argon2: Argon2Parameters = field(default_factory=Argon2Parameters)
    otp_default_validity: timedelta = timedelta(hours=2)
    otp_max_validity: timedelta = timedelta(hours=24)
    session_ttl: timedelta = timedelta(minutes=15)
    challenge_ttl: timedelta = timedelta(seconds=60)
    throttle: ThrottleSettings = field(default_factory=ThrottleSettings)
    # The guessing bound of docs/security.md assumes at most this many pending OTPs.
    max_pending_otps: int = 100
    # Sources that count as the server's own machine (maintenance page, local deploy).
    local_sources: tuple[str, ...] = ("127.0.0.1", "::1")
    # Audit log retention: events older than this, or beyond the newest max_audit_events.
    audit_retention: timedelta = timedelta(days=365)
    max_audit_events: int = 1_000_000
    # Repeated failures of one kind from one source are one audit row per window.
    audit_aggregation_window_s: float = 60.0
    max_body_bytes: int = 64 * 1024
    max_deploy_bytes: int = 8 * 1024 * 1024  # read only once the deploy is authorised
    max_unauthenticated_body_bytes: int = 4 * 1024  # the ways in: sign-ins, OTPs, unlock
    password_workers: int = 2  # bounded pool for Argon2 so logins cannot starve the loop
    ws_auth_timeout_s: float = 5.0
    ws_send_queue: int = 256
    # Fault injection for crash tests: seconds to pause inside the deploy transaction.
    deploy_pause_s: float = 0.0
    trust_proxy_headers: bool = False
    bus: BusSettings = field(default_factory=BusSettings)
    connections: ConnectionLimits = field(default_factory=ConnectionLimits)
    # Extra CAs for the ACME directory's HTTPS (``--acme-ca-bundle``; docs/cloud-acme.md).
    acme_ca_bundle: Path | None = None
    # The address join links and paths.local carry (core/lanaddress.py): --advertise, and
    # this machine's LAN addresses found at start when listening on every address.
    advertise: str | None = None
    lan_candidates: tuple[str, ...] = ()

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def local_url(self, host: str | None = None) -> str:
        h = host or self.host
        if ":" in h and not h.startswith("["):
            h = f"[{h}]"
        return f"{self.scheme}://{h}:{self.port}"
