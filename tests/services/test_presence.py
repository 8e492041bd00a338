"""Presence (services/sessions.py): which devices are online and on which path, when a
page holds a connection on each path for a moment (a switch keeps the other warm)."""

from __future__ import annotations

from domogate.core.accounts import ConnectionPath
from domogate.services.sessions import Presence

LOCAL, CLOUD = ConnectionPath.LOCAL, ConnectionPath.CLOUD


def test_a_switch_and_its_way_back_are_each_shown() -> None:
    p = Presence()
    assert p.connected("d", LOCAL) is True  # online
    assert p.path_of("d") is LOCAL
    assert p.connected("d", CLOUD) is True  # the cloud made ready, then used
    assert p.path_of("d") is CLOUD
    assert p.disconnected("d", LOCAL) is False  # the dead local channel closes: no change
    assert p.path_of("d") is CLOUD
    assert p.connected("d", LOCAL) is True  # back home
    assert p.disconnected("d", CLOUD) is False  # the cloud channel closed after the switch
    assert p.path_of("d") is LOCAL and p.online() == {"d"}
    assert p.disconnected("d", LOCAL) is True  # offline
    assert p.path_of("d") is None and p.online() == frozenset()


def test_when_the_path_shown_closes_the_other_one_still_open_is_shown() -> None:
    p = Presence()
    p.connected("d", LOCAL)
    p.connected("d", CLOUD)
    assert p.disconnected("d", CLOUD) is True
    assert p.path_of("d") is LOCAL and p.online() == {"d"}


def test_two_connections_on_one_path_and_unknown_closes() -> None:
    p = Presence()
    assert p.connected("d", LOCAL) is True
    assert p.connected("d", LOCAL) is False  # a second tab: nothing new to show
    assert p.disconnected("d", CLOUD) is False  # never opened on the cloud
    assert p.disconnected("d", LOCAL) is False
    assert p.disconnected("d", LOCAL) is True
    assert p.disconnected("d", LOCAL) is False
    assert p.disconnected("other", LOCAL) is False
