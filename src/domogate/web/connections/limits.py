"""The caps in force: the configured connection limits, lowered to fit the process's
open-file limit (whose soft value is raised towards the hard one first)."""

from __future__ import annotations

import contextlib
import resource
from dataclasses import dataclass

from domogate.settings import ConnectionLimits


@dataclass(frozen=True)
class EffectiveLimits:
    """The caps in force: the configured ones, lowered to fit the open-file limit."""

    head_timeout_s: float
    total: int
    per_address: int
    refusals: int
    evict_idle_after_s: float
    open_files: int | None = None
    lowered: bool = False  # the open-file limit lowered ``total``


def fd_reserve(open_files: int) -> int:
    """File descriptors kept for the server itself (database, logs, certificate, static
    files, the event loop): 32, plus 1 in 32."""
    return 32 + open_files // 32


def wanted_open_files(limits: ConnectionLimits) -> int:
    sockets = limits.total + limits.refusals
    return sockets + fd_reserve(sockets) + sockets // 31 + 1


def raise_open_files(wanted: int) -> int | None:
    """Raise the soft open-file limit towards ``wanted`` (never above the hard limit);
    the soft limit in force afterwards (None: unlimited or unknown)."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    except (OSError, ValueError):  # pragma: no cover - not on Linux
        return None
    if soft != resource.RLIM_INFINITY and soft < wanted:
        target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
        if target > soft:
            with contextlib.suppress(OSError, ValueError):
                resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
                soft = target
    return None if soft == resource.RLIM_INFINITY else int(soft)


def effective_limits(limits: ConnectionLimits, open_files: int | None) -> EffectiveLimits:
    total, refusals, per_address = limits.total, limits.refusals, limits.per_address
    lowered = False
    if open_files is not None:
        budget = max(4, open_files - fd_reserve(open_files))
        refusals = min(refusals, max(1, budget // 16))
        if total > budget - refusals:
            total = budget - refusals
            lowered = True
            # One address may not take every socket the process can hold.
            per_address = min(per_address, max(1, total // 2))
    return EffectiveLimits(
        head_timeout_s=limits.head_timeout_s,
        total=max(1, total),
        per_address=max(1, min(per_address, total)),
        refusals=max(0, refusals),
        evict_idle_after_s=limits.evict_idle_after_s,
        open_files=open_files,
        lowered=lowered,
    )


def describe(limits: EffectiveLimits) -> str:
    """One line for the operator when the open-file limit lowered the caps."""
    return (
        f"WARNING: the open-file limit ({limits.open_files}) allows only {limits.total} "
        f"connections ({limits.per_address} per address); raise it (ulimit -n) for more."
    )
