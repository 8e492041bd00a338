"""core/paths.plan: automatic connection off refuses to choose by itself; --path forces."""

from __future__ import annotations

import pytest

from domogate.core.paths import Plan, plan
from domogate.core.sections import ConnectionPolicy
from domogate.errors import InvalidInput


def test_automatic_connection_off_needs_a_chosen_or_forced_path() -> None:
    with pytest.raises(InvalidInput) as refused:
        plan(ConnectionPolicy.LOCAL_AND_CLOUD, forced=None, automatic=False, cloud_known=True)
    assert "--path local or --path cloud" in refused.value.message
    kwargs = {"automatic": False, "cloud_known": True}
    assert plan(ConnectionPolicy.LOCAL_AND_CLOUD, forced="cloud", **kwargs) == Plan(
        ("cloud",), forced=True
    )
    assert plan(ConnectionPolicy.LOCAL, forced=None, chosen="local", **kwargs).paths == ("local",)


def test_a_forced_path_wins_over_the_policy() -> None:
    got = plan(ConnectionPolicy.LOCAL, forced="cloud", automatic=True, cloud_known=True)
    assert got == Plan(("cloud",), forced=True)
    with pytest.raises(InvalidInput):
        plan(ConnectionPolicy.LOCAL, forced="cloud", automatic=True, cloud_known=False)
