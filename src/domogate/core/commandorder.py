"""The order of one page's commands across its paths, pure.

A page that moves from the local path to the cloud sends again the commands its dead
channel may not have delivered. A channel that was only stalled can still deliver them
later, out of order: "unlock" sent before "lock", arriving after it, would leave the door
unlocked. So a page numbers its commands (``tab``: a random id of the page, ``seq``: its
counter) and the server runs, for each device, page and target (object, attribute), only
a number higher than the last one it ran:

- higher: run it (``RUN``), and remember it;
- the same: the command was already run (the other path delivered it first): answer what
  it answered then, run nothing (``DUPLICATE``);
- lower: a newer command for the same target ran already: refuse it (``STALE``).

Commands without ``tab``/``seq`` (the Python client, one path at a time) are not ordered.
Memory is bounded: :data:`MAX_DEVICES` devices (least recently used dropped), each
:data:`MAX_TABS` pages, each :data:`MAX_TARGETS` targets.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

MAX_DEVICES = 4096
MAX_TABS = 8
MAX_TARGETS = 256
MAX_TAB_LENGTH = 64


class Verdict(enum.Enum):
    RUN = "run"
    DUPLICATE = "duplicate"
    STALE = "stale"


@dataclass(frozen=True)
class Admission:
    verdict: Verdict
    answer: dict[str, Any] | None = None  # for a duplicate: the first answer (ok, error)


def numbered(tab: object, seq: object) -> tuple[str, int] | None:
    """``(tab, seq)`` when a command carries both in the expected shape, else None (an
    unordered command). A ``seq`` must be a positive integer, ``tab`` short text."""
    if not isinstance(tab, str) or not 0 < len(tab) <= MAX_TAB_LENGTH:
        return None
    if not isinstance(seq, int) or isinstance(seq, bool) or seq <= 0:
        return None
    return tab, seq


class CommandOrder:
    """See the module's docstring."""

    def __init__(self) -> None:
        # device → tab → target → (seq, answer)
        self._devices: OrderedDict[
            str, OrderedDict[str, OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]]]
        ] = OrderedDict()

    def admit(self, device: str, tab: str, target: tuple[str, str], seq: int) -> Admission:
        """The verdict on command ``seq``; a ``RUN`` is remembered at once (so that the
        same command arriving on the other path meanwhile is a duplicate, not run twice),
        and :meth:`ran` records its answer."""
        targets = self._targets(device, tab)
        last = targets.get(target)
        if last is not None:
            targets.move_to_end(target)
            if seq == last[0]:
                return Admission(Verdict.DUPLICATE, last[1])
            if seq < last[0]:
                return Admission(Verdict.STALE)
        targets[target] = (seq, {"ok": True})
        targets.move_to_end(target)
        if len(targets) > MAX_TARGETS:
            targets.popitem(last=False)
        return Admission(Verdict.RUN)

    def ran(
        self, device: str, tab: str, target: tuple[str, str], seq: int, answer: dict[str, Any]
    ) -> None:
        """What command ``seq`` answered (a duplicate arriving later gets the same)."""
        targets = self._targets(device, tab)
        last = targets.get(target)
        if last is not None and last[0] == seq:
            targets[target] = (seq, answer)

    def _targets(
        self, device: str, tab: str
    ) -> OrderedDict[tuple[str, str], tuple[int, dict[str, Any]]]:
        tabs = self._devices.setdefault(device, OrderedDict())
        self._devices.move_to_end(device)
        if len(self._devices) > MAX_DEVICES:
            self._devices.popitem(last=False)
        targets = tabs.setdefault(tab, OrderedDict())
        tabs.move_to_end(tab)
        if len(tabs) > MAX_TABS:
            tabs.popitem(last=False)
        return targets
