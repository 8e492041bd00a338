"""core/joinlink.py: the OTP travels in the fragment; parsing says what is wrong."""

from __future__ import annotations

import dataclasses
from urllib.parse import parse_qsl, urlencode, urlsplit

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


CLOUD_FORM = joinlink.JoinLink(
    "https://192.168.1.20:7550",
    "srv-1",
    "ab" * 32,
    "ACDEF-GHJKL",
    server_name="Maison",
    cloud_url="https://abc.cloud.test:7443",
    cloud_relay="relay.cloud.test:7443",
    prefer_cloud=True,
)


def test_the_cloud_form_has_the_cloud_url_as_origin_and_the_local_url_in_l() -> None:
    url = CLOUD_FORM.to_url()
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}" == "https://abc.cloud.test:7443"
    assert parts.path == "/join" and parts.query == ""
    fragment = dict(parse_qsl(parts.fragment))
    assert fragment["c"] == "https://abc.cloud.test:7443"  # c= is the origin, as said
    assert fragment["l"] == "https://192.168.1.20:7550"
    assert fragment["r"] == "relay.cloud.test:7443"
    parsed = joinlink.parse(url)
    assert parsed == CLOUD_FORM
    assert parsed.base_url == "https://192.168.1.20:7550"  # base_url: LOCAL in both forms
    assert joinlink.is_join_link(url)


def test_the_local_form_carries_no_l() -> None:
    local = dataclasses.replace(CLOUD_FORM, prefer_cloud=False)
    url = local.to_url()
    assert url.startswith("https://192.168.1.20:7550/join#")
    assert "l" not in dict(parse_qsl(urlsplit(url).fragment))
    assert joinlink.parse(url) == local


def test_no_cloud_form_without_the_cloud_url_and_relay() -> None:
    alone = dataclasses.replace(CLOUD_FORM, cloud_relay=None)
    url = alone.to_url()
    assert url.startswith("https://192.168.1.20:7550/join#") and "l=" not in url
    assert not alone.cloud_form


def _with(**fields: str) -> str:
    base = dict(parse_qsl(urlsplit(CLOUD_FORM.to_url()).fragment))
    base.update(fields)
    return "https://abc.cloud.test:7443/join#" + urlencode(base)


@pytest.mark.parametrize(
    "local",
    [
        "javascript:alert(1)",
        "ftp://192.168.1.20:7550",
        "https://",
        "192.168.1.20:7550",
        "https://user:pw@192.168.1.20:7550",
        "https://192.168.1.20:7550/evil",
        "https://192.168.1.20:7550?x=1",
        "https://192.168.1.20:7550#frag",
        "https://192.168.1.20:notaport",
        "",
    ],
)
def test_an_l_that_is_not_an_http_origin_is_refused(local: str) -> None:
    with pytest.raises(InvalidInput, match=r"local address \(l=\)"):
        joinlink.parse(_with(l=local))


def test_an_l_without_the_cloud_path_is_refused() -> None:
    fragment = dict(parse_qsl(urlsplit(CLOUD_FORM.to_url()).fragment))
    del fragment["r"]
    with pytest.raises(InvalidInput, match="no cloud URL and relay"):
        joinlink.parse("https://abc.cloud.test:7443/join#" + urlencode(fragment))


def test_a_cloud_form_link_on_another_origin_is_refused() -> None:
    url = _with().replace("https://abc.cloud.test:7443/join", "https://evil.test/join", 1)
    with pytest.raises(InvalidInput, match="not its cloud URL"):
        joinlink.parse(url)
    # case does not matter in a host name
    assert joinlink.parse(_with(c="https://ABC.cloud.test:7443")).base_url == CLOUD_FORM.base_url


def test_an_ipv6_local_url_round_trips() -> None:
    link = dataclasses.replace(CLOUD_FORM, base_url="https://[fd00::20]:7550")
    assert joinlink.parse(link.to_url()) == link
