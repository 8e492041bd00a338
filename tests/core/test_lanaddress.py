"""core/lanaddress.py: the address join links carry, chosen without I/O."""

from __future__ import annotations

import pytest

from domogate.core.lanaddress import (
    Source,
    best_lan_address,
    check_advertise,
    choose,
    link_base,
    url_of,
)
from domogate.errors import InvalidInput

EVERY = "0.0.0.0"  # noqa: S104 - the wildcard, as --host takes it


def test_advertise_wins_over_everything() -> None:
    chosen = choose(
        EVERY, advertise="house.local", project_address="10.0.0.5", lan_candidates=["10.1.1.1"]
    )
    assert (chosen.host, chosen.source) == ("house.local", Source.ADVERTISE)
    assert "pass --advertise" not in chosen.describe()


def test_one_listening_address_is_the_address() -> None:
    chosen = choose("192.168.1.7", project_address="10.0.0.5", lan_candidates=["10.1.1.1"])
    assert (chosen.host, chosen.source) == ("192.168.1.7", Source.LISTEN)
    # loopback only: this machine only, and the output says how to let a phone in
    loop = choose("127.0.0.1", lan_candidates=["192.168.1.20"])
    assert loop.host == "127.0.0.1" and "--host 0.0.0.0" in loop.describe()


@pytest.mark.parametrize("wildcard", [EVERY, "::", "[::]"])
def test_every_address_takes_the_project_address_when_it_is_not_loopback(wildcard: str) -> None:
    chosen = choose(wildcard, project_address="panel.local", lan_candidates=["192.168.1.20"])
    assert (chosen.host, chosen.source) == ("panel.local", Source.PROJECT)


@pytest.mark.parametrize("project", [None, "127.0.0.1", "localhost", "::1", EVERY])
def test_else_the_lan_address(project: str | None) -> None:
    chosen = choose(EVERY, project_address=project, lan_candidates=["192.168.1.20"])
    assert (chosen.host, chosen.source) == ("192.168.1.20", Source.LAN)
    assert chosen.describe() == (
        "join links use 192.168.1.20, this machine's LAN address; "
        "pass --advertise ADDRESS to choose another"
    )


def test_loopback_only_falls_back_to_loopback_with_a_warning() -> None:
    chosen = choose(EVERY, project_address="127.0.0.1", lan_candidates=["127.0.0.1", "::1"])
    assert (chosen.host, chosen.source) == ("127.0.0.1", Source.FALLBACK)
    assert chosen.warning and "WARNING" in chosen.describe()
    assert choose("::", lan_candidates=[]).source is Source.FALLBACK


def test_several_addresses_private_ipv4_first() -> None:
    assert best_lan_address(["fe80::1", "2001:db8::5", "81.2.69.142", "10.77.0.2"]) == "10.77.0.2"
    assert best_lan_address(["fe80::1", "2a01:4f8::5", "81.2.69.142"]) == "81.2.69.142"
    assert best_lan_address(["169.254.3.3", "fe80::1", "2a01:4f8::5"]) == "2a01:4f8::5"
    assert best_lan_address(["fd00::2", "2a01:4f8::5"]) == "2a01:4f8::5"  # global before ULA
    assert best_lan_address(["192.168.1.20", "10.0.0.3"]) == "192.168.1.20"  # the first kept
    assert best_lan_address(["not an address", EVERY, "224.0.0.1", "::1"]) is None


def test_advertise_is_checked() -> None:
    assert check_advertise(" 192.168.1.20 ") == "192.168.1.20"
    assert check_advertise("[fd00::20]") == "fd00::20"
    assert check_advertise("house.local") == "house.local"
    for bad in (EVERY, "::"):
        with pytest.raises(InvalidInput, match="every address"):
            check_advertise(bad)
    for bad in ("", "http://x", "a b", "x" * 300, "-bad.local", "h:7550"):
        with pytest.raises(InvalidInput, match="not an IP address or a host name"):
            check_advertise(bad)


def test_link_base_replaces_loopback_and_wildcards_only() -> None:
    lan = "https://192.168.1.20:7550"
    assert link_base("https://127.0.0.1:7550", lan) == lan
    assert link_base("https://localhost:7550/", lan) == lan
    assert link_base("https://0.0.0.0:7550", lan) == lan
    assert link_base("https://[::1]:7550", lan) == lan
    assert link_base("https://panel.local:7550", lan) == "https://panel.local:7550"
    assert link_base("https://127.0.0.1:7550", "https://127.0.0.1:7550") == "https://127.0.0.1:7550"


def test_url_of_brackets_ipv6() -> None:
    assert url_of("https", "fd00::20", 7550) == "https://[fd00::20]:7550"
    assert url_of("http", "10.0.0.1", 80) == "http://10.0.0.1:80"
