"""The client's connection policy, pure: which path (``local`` or ``cloud``) a client tries,
in which order, and the timings of happy eyeballs and of the live channel's failover
(``docs/cloud.md``, "Clients: paths and policy").

- ``local``: the server's local URL only; ``cloud``: the relay only;
- ``local_and_cloud``: local first, cloud :data:`HAPPY_EYEBALLS_DELAY_S` later when local
  has not answered (at once when local has already failed); the first to answer wins;
- ``--path local|cloud`` forces one path whatever the policy;
- automatic connection off: the client does not choose by itself; a person chooses (on a
  terminal), otherwise the command must say ``--path``.
"""

from __future__ import annotations

from dataclasses import dataclass

from domogate.core.sections import ConnectionPolicy
from domogate.errors import InvalidInput

LOCAL = "local"
CLOUD = "cloud"
PATHS = (LOCAL, CLOUD)

HAPPY_EYEBALLS_DELAY_S = 0.25  # start cloud when local has not answered within this
PING_INTERVAL_S = 0.5  # the live channel's ping, on every open path
DEAD_AFTER_S = 1.5  # a live path that answered nothing for this long is dead
BACK_TO_LOCAL_PROBE_S = 10.0  # default: how often a client on cloud retries local
LOCAL_STABLE_S = 1.0  # local must answer pings this long before the live channel returns

NO_CLOUD_URL = (
    "No cloud path is known for this server. The server gives its cloud URL once its "
    "cloud link is up: run any command on the local path (at home) to learn it, or "
    "connect again with a join link that carries it (…&c=CLOUD_URL&r=RELAY)."
)


def check_path(text: str) -> str:
    """``local`` or ``cloud`` (case-insensitive), else ``InvalidInput`` naming both."""
    path = text.strip().lower()
    if path not in PATHS:
        raise InvalidInput(f"Unknown path {text!r}: use local or cloud.", field="path")
    return path


def policy_of(value: object) -> ConnectionPolicy:
    """A policy from a server or a config file; anything unknown counts as ``local``."""
    try:
        return ConnectionPolicy(str(value))
    except ValueError:
        return ConnectionPolicy.LOCAL


def allowed_paths(policy: ConnectionPolicy) -> tuple[str, ...]:
    """The paths a policy uses, in the order they are tried."""
    if policy is ConnectionPolicy.LOCAL:
        return (LOCAL,)
    if policy is ConnectionPolicy.CLOUD:
        return (CLOUD,)
    return (LOCAL, CLOUD)


@dataclass(frozen=True)
class Plan:
    """What to dial: ``paths[0]`` at once, ``paths[1]`` (if any) ``delay_s`` later or as
    soon as the first has failed."""

    paths: tuple[str, ...]
    delay_s: float = HAPPY_EYEBALLS_DELAY_S
    forced: bool = False

    @property
    def first(self) -> str:
        return self.paths[0]


def plan(
    policy: ConnectionPolicy,
    *,
    forced: str | None,
    automatic: bool,
    cloud_known: bool,
    chosen: str | None = None,
) -> Plan:
    """The plan for one connection.

    ``forced`` is ``--path``; ``chosen`` is a person's answer when automatic connection is
    off (the caller asks when :func:`needs_choice` says so). A plan that needs the cloud
    path when no cloud URL is known raises ``InvalidInput`` saying how to get one."""
    pick = forced if forced is not None else chosen
    if pick is not None:
        path = check_path(pick)
        if path == CLOUD and not cloud_known:
            raise InvalidInput(NO_CLOUD_URL, field="path")
        return Plan((path,), forced=True)
    paths = allowed_paths(policy)
    if not cloud_known:
        if paths == (CLOUD,):
            raise InvalidInput(
                "The server's connection policy is cloud only. " + NO_CLOUD_URL, field="path"
            )
        paths = tuple(p for p in paths if p != CLOUD)
    if not automatic:
        raise InvalidInput(
            "Automatic connection is off for this server: choose the path with "
            "--path local or --path cloud.",
            field="path",
        )
    return Plan(paths)


def needs_choice(*, forced: str | None, automatic: bool) -> bool:
    """Whether a person must choose the path (automatic connection off, no ``--path``)."""
    return forced is None and not automatic


def choices(policy: ConnectionPolicy, *, cloud_known: bool) -> tuple[str, ...]:
    """What a person may choose from when automatic connection is off."""
    paths = allowed_paths(policy)
    known = tuple(p for p in paths if p != CLOUD or cloud_known)
    return known or (LOCAL,)


def other(path: str) -> str:
    return CLOUD if path == LOCAL else LOCAL
