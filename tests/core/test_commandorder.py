"""core/commandorder.py: a page's commands run in its order across paths."""

from __future__ import annotations

from domogate.core import commandorder as co
from domogate.core.commandorder import CommandOrder, Verdict, numbered

LOCK = ("front-door", "locked")


def test_newer_runs_the_same_is_a_duplicate_older_is_stale() -> None:
    order = CommandOrder()
    assert order.admit("dev", "tab", LOCK, 1).verdict is Verdict.RUN  # unlock
    order.ran("dev", "tab", LOCK, 1, {"ok": True})
    assert order.admit("dev", "tab", LOCK, 2).verdict is Verdict.RUN  # lock, on the cloud
    order.ran("dev", "tab", LOCK, 2, {"ok": False, "error": {"code": "bus_unavailable"}})
    # the stalled local channel delivers the old unlock at last: refused
    assert order.admit("dev", "tab", LOCK, 1).verdict is Verdict.STALE
    # the lock sent again on the other path: not run twice, the first answer given
    again = order.admit("dev", "tab", LOCK, 2)
    assert again.verdict is Verdict.DUPLICATE
    assert again.answer == {"ok": False, "error": {"code": "bus_unavailable"}}


def test_a_duplicate_while_the_first_still_runs_is_not_run() -> None:
    order = CommandOrder()
    assert order.admit("dev", "tab", LOCK, 5).verdict is Verdict.RUN
    assert order.admit("dev", "tab", LOCK, 5).verdict is Verdict.DUPLICATE


def test_order_is_per_target_page_and_device() -> None:
    order = CommandOrder()
    assert order.admit("dev", "tab", LOCK, 9).verdict is Verdict.RUN
    assert order.admit("dev", "tab", ("light", "on"), 3).verdict is Verdict.RUN
    assert order.admit("dev", "other-tab", LOCK, 1).verdict is Verdict.RUN
    assert order.admit("other-dev", "tab", LOCK, 1).verdict is Verdict.RUN


def test_memory_is_bounded() -> None:
    order = CommandOrder()
    for i in range(co.MAX_DEVICES + 10):
        order.admit(f"d{i}", "t", LOCK, 1)
    assert len(order._devices) == co.MAX_DEVICES
    for i in range(co.MAX_TABS + 3):
        order.admit("d", f"t{i}", LOCK, 1)
    assert len(order._devices["d"]) == co.MAX_TABS
    for i in range(co.MAX_TARGETS + 5):
        order.admit("d", "t", (f"o{i}", "on"), 1)
    assert len(order._devices["d"]["t"]) == co.MAX_TARGETS


def test_only_well_formed_numbers_are_ordered() -> None:
    assert numbered("a1b2", 3) == ("a1b2", 3)
    for tab, seq in (("", 1), ("x" * 65, 1), (None, 1), ("t", 0), ("t", -1), ("t", True),
                     ("t", "3"), ("t", 1.5), (7, 1)):  # fmt: skip
        assert numbered(tab, seq) is None
