"""core/cloudwire.py: installation names, the link signature, pool and attach lines."""

from __future__ import annotations

import secrets

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core import cloudwire as w
from domogate.errors import InvalidInput

KEY = bytes(range(32))
CONN = "0f" * 16


def test_cloud_name_is_a_stable_dns_label_of_the_key_and_fits_only_it() -> None:
    key = Ed25519PrivateKey.from_private_bytes(KEY).public_key()
    other = Ed25519PrivateKey.generate().public_key()
    a = w.cloud_name(key)
    assert a == w.cloud_name(Ed25519PrivateKey.from_private_bytes(KEY).public_key())
    assert w.is_dns_label(a) and len(a) == 16
    assert a != w.cloud_name(other)
    assert w.name_fits_key(a, key) and not w.name_fits_key(a, other)
    assert not w.name_fits_key(a.upper(), key)


@pytest.mark.parametrize("label", ["a", "a-b", "x" * 63, "0abc"])
def test_dns_labels_accepted(label: str) -> None:
    assert w.is_dns_label(label)


@pytest.mark.parametrize("label", ["", "-a", "a-", "A", "a_b", "x" * 64, "a.b", "é"])
def test_dns_labels_refused(label: str) -> None:
    assert not w.is_dns_label(label)


def test_zone_is_normalised_and_checked() -> None:
    assert w.check_zone("Cloud.Example.org.") == "cloud.example.org"
    with pytest.raises(InvalidInput, match="Not a DNS zone"):
        w.check_zone("bad zone")


@pytest.mark.parametrize(
    ("sni", "label"),
    [
        ("abc.cloud.test", "abc"),
        ("ABC.cloud.test.", "abc"),
        ("cloud.test", None),  # the cloud's own name
        ("a.b.cloud.test", None),  # two labels
        ("abc.other.test", None),
        (None, None),
        ("xcloud.test", None),
    ],
)
def test_name_in_zone(sni: str | None, label: str | None) -> None:
    assert w.name_in_zone(sni, "cloud.test") == label


def test_link_signature_binds_nonce_fingerprint_and_name() -> None:
    key = Ed25519PrivateKey.generate()
    pub = w.parse_public_key(w.public_key_text(key.public_key()))
    nonce = secrets.token_bytes(w.NONCE_BYTES)
    sig = w.sign_link(key, nonce, "aa" * 32, "home")
    assert w.verify_link(pub, sig, nonce, "aa" * 32, "home")
    assert not w.verify_link(pub, sig, secrets.token_bytes(32), "aa" * 32, "home")
    assert not w.verify_link(pub, sig, nonce, "bb" * 32, "home")  # another TLS session
    assert not w.verify_link(pub, sig, nonce, "aa" * 32, "other")
    assert not w.verify_link(pub, "!!", nonce, "aa" * 32, "home")
    other = Ed25519PrivateKey.generate().public_key()
    assert not w.verify_link(other, sig, nonce, "aa" * 32, "home")


def test_malformed_public_key_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        w.parse_public_key("AAAA")


def test_pool_line_round_trip_and_mac() -> None:
    line = w.pool_line("home", CONN, KEY)
    hello = w.parse_pool_line(line)
    assert (hello.name, hello.conn_id) == ("home", CONN)
    assert w.pool_mac_ok(hello, KEY)
    assert not w.pool_mac_ok(hello, bytes(32))


@pytest.mark.parametrize(
    "line",
    [
        b"DGPOOL1 home\n",
        b"DGPOOL1 Home " + CONN.encode() + b" " + b"0" * 64 + b"\n",
        b"DGPOOL1 home " + b"zz" * 16 + b" " + b"0" * 64 + b"\n",
        b"DGPOOL1 home " + CONN.encode() + b" " + b"0" * 64,  # no newline
        b"DGPOOL1 " + b"a" * 300 + b"\n",
        b"GET / HTTP/1.1\r\n",
        b"DGPOOL1 h\xff " + CONN.encode() + b" " + b"0" * 64 + b"\n",
    ],
)
def test_bad_pool_lines_are_wire_errors(line: bytes) -> None:
    with pytest.raises(w.WireError):
        w.parse_pool_line(line)


def test_attach_line_round_trip() -> None:
    line = w.attach_line(CONN, "127.0.0.2", 40001, KEY)
    assert len(line) <= w.MAX_LINE
    assert w.parse_attach_line(line, CONN, KEY) == ("127.0.0.2", 40001)
    v6 = w.attach_line(CONN, "2001:db8::1", 443, KEY)
    assert w.parse_attach_line(v6, CONN, KEY) == ("2001:db8::1", 443)


def test_attach_line_is_bound_to_key_and_connection() -> None:
    line = w.attach_line(CONN, "127.0.0.2", 40001, KEY)
    with pytest.raises(w.WireError, match="MAC"):
        w.parse_attach_line(line, CONN, bytes(32))
    with pytest.raises(w.WireError, match="MAC"):
        w.parse_attach_line(line, "1e" * 16, KEY)  # replayed on another pool connection
    forged = line.replace(b"127.0.0.2", b"127.0.0.9")
    with pytest.raises(w.WireError, match="MAC"):
        w.parse_attach_line(forged, CONN, KEY)


@pytest.mark.parametrize(
    "line",
    [
        b"DGATTACH1 localhost 1 " + b"0" * 64 + b"\n",
        b"DGATTACH1 127.0.0.1 70000 " + b"0" * 64 + b"\n",
        b"DGATTACH1 127.0.0.1 01 " + b"0" * 64 + b"\n",
        b"DGATTACH1 127.0.0.1 1\n",
        b"\x16\x03\x01\x00\x05hello",
    ],
)
def test_bad_attach_lines_are_wire_errors(line: bytes) -> None:
    with pytest.raises(w.WireError):
        w.parse_attach_line(line, CONN, KEY)


@pytest.mark.parametrize(
    "url",
    ["https://abc.cloud.test", "https://abc.cloud.test:7443", "https://abc.localhost/"],
)
def test_installation_urls_accepted(url: str) -> None:
    assert w.is_installation_url(url, "abc")


@pytest.mark.parametrize(
    "url",
    [
        "http://abc.cloud.test",
        "https://abd.cloud.test",
        "https://abc.cloud.test/path",
        "https://abc.cloud.test?x=1",
        "https://abc.cloud.test#f",
        "https://abc.cloud.test:0",
        "https://abc.cloud.test:65536",
        "https://abc.cloud.test:07443",
        "https://abc.* x",
        "https://abc.x.com; script-src *",
        "https://abc.Cloud.test",
        "https://abc.",
        "https://abc.cloud.test:",
        "https://user@abc.cloud.test",
        "https://abc.cloud.test.",
        "https://abc." + "a" * 300,
    ],
)
def test_installation_urls_refused(url: str) -> None:
    assert not w.is_installation_url(url, "abc")
