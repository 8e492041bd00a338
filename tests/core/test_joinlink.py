"""core/joinlink.py: the OTP travels in the fragment; parsing says what is wrong."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from domogate.core import joinlink
from domogate.errors import InvalidInput


def test_round_trip_with_the_otp_in_the_fragment_only() -> None:
    link = joinlink.JoinLink(
        "https://maison:7550", "srv-1", "ab" * 32, "ACDEF-GHJKL", server_name="Maison Dupont"
    )
    url = link.to_url()
    parts = urlsplit(url)
    assert parts.path == "/join" and parts.query == ""
    assert "ACDEF-GHJKL" in parts.fragment
    assert joinlink.parse(url) == link
    assert joinlink.is_join_link(url)
    assert not joinlink.is_join_link("https://maison:7550/")


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("ftp://x/join#v=1&s=a", "Not a join link"),
        ("https://x/join", "no fragment"),
        ("https://x/join#v=2&s=a", "version"),
        ("https://x/join#v=1", "server id"),
    ],
)
def test_malformed_links_say_what_is_wrong(url: str, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        joinlink.parse(url)


def test_cloud_url_and_relay_travel_together() -> None:
    link = joinlink.JoinLink(
        "https://maison:7550",
        "srv-1",
        "ab" * 32,
        "ACDEF-GHJKL",
        cloud_url="https://abc.cloud.test:7443",
        cloud_relay="127.0.0.1:7443",
    )
    assert joinlink.parse(link.to_url()) == link
    # one without the other is dropped: a cloud URL with no relay to dial is no path
    alone = joinlink.JoinLink("https://m:1", "s", None, None, cloud_url="https://a.b")
    assert "c=" not in alone.to_url()
    assert joinlink.parse("https://m:1/join#v=1&s=s&c=https%3A%2F%2Fa.b").cloud_url is None
