"""Server settings, passed explicitly (``create_app(settings, services)``).

Nothing reads the environment here: the CLI builds a :class:`ServerSettings` from its
flags, tests build one with cheap Argon2 parameters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from domogate.core.throttle import BucketSpec
from domogate.security.passwords import Argon2Parameters


@dataclass(frozen=True)
class ThrottleSettings:
    """OTP redemption attempts, per source and in total (see docs/security.md).

    The defaults keep the chance of hitting any of 100 pending OTPs, each valid at most
    ``ServerSettings.otp_max_validity`` (24 h), under one in a million.
    """

    otp_per_source: BucketSpec = BucketSpec(capacity=10, rate=1 / 6)
    otp_global: BucketSpec = BucketSpec(capacity=60, rate=1.0)
    # Password logins: per source, and per account name (failures only).
    password_per_source: BucketSpec = BucketSpec(capacity=10, rate=1 / 6)
    password_per_account: BucketSpec = BucketSpec(capacity=10, rate=1 / 30)
    # Device sign-in challenges per source (cheap, high: automatic sign-in storms are legit).
    challenge_per_source: BucketSpec = BucketSpec(capacity=100, rate=20.0)
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
    max_body_bytes: int = 64 * 1024
    max_deploy_bytes: int = 8 * 1024 * 1024
    password_workers: int = 2  # bounded pool for Argon2 so logins cannot starve the loop
    ws_auth_timeout_s: float = 5.0
    ws_send_queue: int = 256
    # Fault injection for crash tests: seconds to pause inside the deploy transaction.
    deploy_pause_s: float = 0.0
    trust_proxy_headers: bool = False
    bus: BusSettings = field(default_factory=BusSettings)

    @property
    def scheme(self) -> str:
        return "http" if self.insecure_http else "https"

    def local_url(self, host: str | None = None) -> str:
        h = host or self.host
        if ":" in h and not h.startswith("["):
            h = f"[{h}]"
        return f"{self.scheme}://{h}:{self.port}"
