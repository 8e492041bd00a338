"""The ClientHello parser, on real ClientHellos made by Python's ``ssl`` (memory BIOs, no
network): every prefix, re-framed over several records, TLS 1.2 and 1.3, and fuzzed."""

from __future__ import annotations

import ssl

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domogate.core.clienthello import (
    MAX_HELLO,
    MAX_PEEK,
    Hello,
    NeedMore,
    NotTls,
    parse_client_hello,
)

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def client_hello(
    server_hostname: str | None, *, tls12: bool = False, alpn: list[str] | None = None
) -> bytes:
    """The first flight of a real TLS client, as it would go on the wire."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    return outgoing.read()


WITH_SNI = client_hello("abc.cloud.example.org")
NO_SNI = client_hello(None)


def reframe(stream: bytes, size: int) -> bytes:
    """The same handshake bytes, in records of at most ``size`` bytes each."""
    assert stream[0] == 22
    length = int.from_bytes(stream[3:5], "big")
    handshake, rest = stream[5 : 5 + length], stream[5 + length :]
    out = b""
    for i in range(0, len(handshake), size):
        chunk = handshake[i : i + size]
        out += stream[:3] + len(chunk).to_bytes(2, "big") + chunk
    return out + rest


def record(payload: bytes, kind: int = 22) -> bytes:
    return bytes([kind, 3, 1]) + len(payload).to_bytes(2, "big") + payload


def test_the_server_name_of_a_real_client_hello() -> None:
    assert parse_client_hello(WITH_SNI) == Hello("abc.cloud.example.org")


def test_a_client_hello_without_a_name() -> None:
    assert parse_client_hello(NO_SNI) == Hello(None)
    assert parse_client_hello(client_hello("127.0.0.1")) == Hello(None)  # addresses: no SNI


def test_a_tls12_client_hello() -> None:
    assert parse_client_hello(client_hello("x.zone", tls12=True)) == Hello("x.zone")


@pytest.mark.parametrize("stream", [WITH_SNI, NO_SNI], ids=["sni", "no-sni"])
def test_every_prefix_needs_more(stream: bytes) -> None:
    for cut in range(len(stream)):
        assert parse_client_hello(stream[:cut]) == NeedMore(), cut
    expected = parse_client_hello(stream)
    assert isinstance(expected, Hello)
    assert parse_client_hello(stream + b"\x17\x03\x03 early data") == expected


@pytest.mark.parametrize("size", [1, 37, 100, 200])
def test_a_client_hello_over_several_records(size: int) -> None:
    stream = reframe(WITH_SNI, size)
    if size == 1:  # over MAX_RECORDS records: refused, never parsed at length
        assert isinstance(parse_client_hello(stream), NotTls)
        return
    assert stream.count(b"\x16\x03\x01") > 1
    assert parse_client_hello(stream) == Hello("abc.cloud.example.org")
    for cut in range(len(stream)):
        assert parse_client_hello(stream[:cut]) == NeedMore(), cut


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\n",
        b"DGPOOL1 home 00 00\n",
        b"G",
        record(b"\x02\x00\x00\x00", kind=21),  # an alert
        record(b"\x02" + WITH_SNI[6:]),  # a ServerHello
        b"\x16\x02\x00",  # SSL 2-ish version
        b"\x16\x03\x09",
        b"\x16\x03\x01\x00\x00",  # an empty record
        b"\x16\x03\x01\x40\x01",  # a record over 2^14
        record(b"\x01" + (MAX_HELLO + 1).to_bytes(3, "big")),  # a hello over MAX_HELLO
        record(b"\x01\x00\x00\x05abcde"),  # too short to be a hello
        WITH_SNI[:5] + b"\x01" + WITH_SNI[6:9] + b"\x02\x00" + WITH_SNI[11:],  # version 2
        WITH_SNI[:3]
        + (int.from_bytes(WITH_SNI[3:5], "big") + 1).to_bytes(2, "big")
        # a record one byte longer than the hello: it holds a byte after the extensions
        + WITH_SNI[5:6]
        + (int.from_bytes(WITH_SNI[6:9], "big") + 1).to_bytes(3, "big")
        + WITH_SNI[9:]
        + b"\x00",
    ],
)
def test_what_is_not_a_client_hello_is_refused(data: bytes) -> None:
    assert isinstance(parse_client_hello(data), NotTls)


def test_garbage_after_a_partial_hello_is_refused() -> None:
    cut = WITH_SNI[:200]
    length = int.from_bytes(WITH_SNI[3:5], "big")
    spread = cut[:3] + (195).to_bytes(2, "big") + cut[5:] + b"\x17\x03\x03\x00\x10"
    assert length > 195
    assert isinstance(parse_client_hello(spread), NotTls)  # an app-data record mid-hello


def test_a_never_ending_stream_of_records_is_bounded() -> None:
    # A hello announcing MAX_HELLO bytes, sent in 200-byte records: it fits MAX_PEEK.
    body = b"\x03\x03" + bytes(32) + b"\x00" + b"\x00\x02\x13\x01" + b"\x01\x00"
    body += (MAX_HELLO - len(body) - 2).to_bytes(2, "big")
    body += (0xFFFF).to_bytes(2, "big") + (MAX_HELLO - len(body) - 4).to_bytes(2, "big")
    body += bytes(MAX_HELLO - len(body))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    stream = b"".join(record(handshake[i : i + 300]) for i in range(0, len(handshake), 300))
    assert len(stream) <= MAX_PEEK
    assert parse_client_hello(stream) == Hello(None)
    assert parse_client_hello(stream[:-1]) == NeedMore()
    # Whatever the records, nothing past MAX_PEEK bytes is ever needed.
    tiny = b"".join(record(handshake[i : i + 2]) for i in range(0, 400, 2))
    assert isinstance(parse_client_hello(tiny), NotTls)


def test_a_duplicated_or_malformed_server_name_is_refused() -> None:
    ext = b"\x00\x00\x00\x0b\x00\x09\x00\x00\x06a\x00.org"  # a NUL in the name
    body = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"
    bad = body + len(ext).to_bytes(2, "big") + ext
    good_ext = b"\x00\x00\x00\x0b\x00\x09\x00\x00\x06ab.org"
    twice = body + (2 * len(good_ext)).to_bytes(2, "big") + 2 * good_ext
    once = body + len(good_ext).to_bytes(2, "big") + good_ext

    def wrap(b: bytes) -> bytes:
        return record(b"\x01" + len(b).to_bytes(3, "big") + b)

    assert parse_client_hello(wrap(once)) == Hello("ab.org")
    assert isinstance(parse_client_hello(wrap(bad)), NotTls)
    assert isinstance(parse_client_hello(wrap(twice)), NotTls)


@FUZZ
@given(st.binary(max_size=2048))
def test_random_bytes_never_raise(data: bytes) -> None:
    assert isinstance(parse_client_hello(data), NeedMore | NotTls | Hello)


@FUZZ
@given(
    st.lists(st.tuples(st.integers(0, len(WITH_SNI) - 1), st.integers(0, 255)), max_size=8),
    st.integers(0, len(WITH_SNI)),
)
def test_mutated_client_hellos_never_raise(flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(WITH_SNI)
    for at, value in flips:
        data[at] = value
    result = parse_client_hello(bytes(data[:cut]))
    assert isinstance(result, NeedMore | NotTls | Hello)
    if not flips and cut == len(WITH_SNI):
        assert result == Hello("abc.cloud.example.org")


@FUZZ
@given(st.lists(st.integers(1, 600), min_size=1, max_size=40))
def test_any_framing_keeps_the_server_name(sizes: list[int]) -> None:
    length = int.from_bytes(WITH_SNI[3:5], "big")
    handshake = WITH_SNI[5 : 5 + length]
    out, i, k = b"", 0, 0
    while i < len(handshake):
        n = sizes[k % len(sizes)]
        out += record(handshake[i : i + n])
        i, k = i + n, k + 1
    expected = Hello("abc.cloud.example.org") if k <= 64 else None
    result = parse_client_hello(out)
    if expected is None:
        assert isinstance(result, NotTls)
    else:
        assert result == expected


def test_the_alpn_list_of_a_real_client_hello_in_its_order() -> None:
    offered = ["domogate-pinned/1", "h2", "http/1.1"]
    hello = parse_client_hello(client_hello("abc.cloud.example.org", alpn=offered))
    assert hello == Hello("abc.cloud.example.org", tuple(offered))
    assert parse_client_hello(client_hello("x.zone", alpn=["acme-tls/1"])) == Hello(
        "x.zone", ("acme-tls/1",)
    )
    assert parse_client_hello(WITH_SNI) == Hello("abc.cloud.example.org", ())  # none offered


def _hello_with_extensions(ext: bytes) -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00\x00\x02\x13\x01\x01\x00"
    body += len(ext).to_bytes(2, "big") + ext
    return record(b"\x01" + len(body).to_bytes(3, "big") + body)


def _alpn_extension(list_bytes: bytes, outer_extra: bytes = b"") -> bytes:
    inner = len(list_bytes).to_bytes(2, "big") + list_bytes + outer_extra
    return b"\x00\x10" + len(inner).to_bytes(2, "big") + inner


@pytest.mark.parametrize(
    ("ext", "expected"),
    [
        (_alpn_extension(b"\x02h2\x08http/1.1"), ("h2", "http/1.1")),
        (_alpn_extension(b"\x02\xffz"), ("\xffz",)),  # opaque bytes: Latin-1, never raises
        (_alpn_extension(b""), None),  # an empty list
        (_alpn_extension(b"\x00"), None),  # an empty name
        (_alpn_extension(b"\x05h2"), None),  # a name longer than the list
        (_alpn_extension(b"\x02h2", outer_extra=b"\x00"), None),  # bytes after the list
        (_alpn_extension(b"\x02h2") * 2, None),  # the extension twice
        (b"\x00\x10\x00\x01\x00", None),  # a list length cut short
    ],
)
def test_malformed_alpn_lists_are_refused(ext: bytes, expected: tuple[str, ...] | None) -> None:
    result = parse_client_hello(_hello_with_extensions(ext))
    if expected is None:
        assert isinstance(result, NotTls)
    else:
        assert result == Hello(None, expected)


@FUZZ
@given(st.lists(st.binary(min_size=1, max_size=20), min_size=1, max_size=6))
def test_any_alpn_list_reads_back(names: list[bytes]) -> None:
    listed = b"".join(len(n).to_bytes(1, "big") + n for n in names)
    result = parse_client_hello(_hello_with_extensions(_alpn_extension(listed)))
    assert result == Hello(None, tuple(n.decode("latin-1") for n in names))
