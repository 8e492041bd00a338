"""The start of a TLS stream, read without consuming it: is it a ClientHello, for which
server name (SNI), offering which application protocols (ALPN)? Pure and bounded; the
relay, and the home server for relayed connections, feed it the bytes they peeked.

:func:`parse_client_hello` answers one of:

- :class:`NeedMore`: a valid beginning; peek again once more bytes arrived;
- :class:`NotTls`: not a TLS handshake starting with a ClientHello (or one larger than
  :data:`MAX_HELLO`, or spread over more than :data:`MAX_PEEK` bytes of records): close it;
- :class:`Hello`: a complete, well-formed ClientHello, its ``server_name`` (``None``
  without the extension) and its ``alpn`` protocol names in the client's order (empty
  without the extension). A malformed server name or ALPN extension is :class:`NotTls`
  (a TLS server would refuse it with ``decode_error`` anyway).

The ClientHello may be split over several handshake records (RFC 8446 §5.1); nothing but
handshake records may come before its end. Garbage never raises: it is :class:`NotTls`.
"""

from __future__ import annotations

from dataclasses import dataclass

PINNED_ALPN = "domogate-pinned/1"
"""The ALPN protocol name domogate's own clients offer first: they pin the server's own
certificate, so a server that also holds a CA-trusted certificate for its cloud name
presents its own to them (``docs/cloud-acme.md``). Never negotiated: only a marker."""

MAX_HELLO = 16 * 1024  # bytes of ClientHello body (TLS's own record limit)
MAX_RECORD = 16 * 1024  # bytes of plaintext per record (RFC 8446 §5.1: 2^14)
RECORD_HEADER = 5
HANDSHAKE_HEADER = 4
MAX_RECORDS = 64  # records the ClientHello may be spread over
# The most bytes a verdict ever needs: the hello's bytes and the headers of its records.
MAX_PEEK = MAX_HELLO + HANDSHAKE_HEADER + RECORD_HEADER * MAX_RECORDS

_HANDSHAKE = 22
_CLIENT_HELLO = 1
_EXT_SERVER_NAME = 0
_EXT_ALPN = 16
_HOST_NAME = 0
_MIN_BODY = 2 + 32 + 1 + 2 + 2 + 1 + 1  # version, random, ids, one suite, one compression


@dataclass(frozen=True)
class NeedMore:
    """A valid beginning: more bytes are needed."""


@dataclass(frozen=True)
class NotTls:
    """Not the start of a TLS handshake (``reason`` is for logs and tests only)."""

    reason: str = ""


@dataclass(frozen=True)
class Hello:
    """A complete ClientHello; ``server_name`` is its SNI host name as sent, if any;
    ``alpn`` the protocol names it offers (RFC 7301), in its order, decoded as Latin-1."""

    server_name: str | None
    alpn: tuple[str, ...] = ()


NEED_MORE = NeedMore()


class _Short(Exception):
    """The ClientHello body ends before a field it announced."""


def parse_client_hello(data: bytes) -> NeedMore | NotTls | Hello:
    """Where the stream beginning with ``data`` stands (see the module's docstring)."""
    try:
        return _parse(bytes(data))
    except (IndexError, ValueError, UnicodeError, _Short):  # a safety net: never raise
        return NotTls("malformed")


def _parse(data: bytes) -> NeedMore | NotTls | Hello:
    handshake = bytearray()
    needed: int | None = None  # handshake bytes of the whole ClientHello, header included
    pos = 0
    records = 0
    while needed is None or len(handshake) < needed:
        if records >= MAX_RECORDS or pos >= MAX_PEEK:
            return NotTls("ClientHello spread over too many records")
        header = data[pos : pos + RECORD_HEADER]
        refused = _check_record_header(header)
        if refused is not None:
            return refused
        if len(header) < RECORD_HEADER:
            return NEED_MORE
        length = int.from_bytes(header[3:5], "big")
        fragment = data[pos + RECORD_HEADER : pos + RECORD_HEADER + length]
        handshake += fragment
        records += 1
        if handshake and handshake[0] != _CLIENT_HELLO:
            return NotTls("not a ClientHello")
        if needed is None and len(handshake) >= HANDSHAKE_HEADER:
            body_length = int.from_bytes(handshake[1:4], "big")
            if body_length > MAX_HELLO:
                return NotTls("ClientHello too large")
            if body_length < _MIN_BODY:
                return NotTls("ClientHello too short")
            needed = HANDSHAKE_HEADER + body_length
        if len(fragment) < length:  # this record is not all there yet
            if needed is not None and len(handshake) >= needed:
                break
            return NEED_MORE
        pos += RECORD_HEADER + length
    assert needed is not None
    return _body(bytes(handshake[HANDSHAKE_HEADER:needed]))


def _check_record_header(header: bytes) -> NotTls | None:
    """A refusal as soon as the bytes present show it is no handshake record."""
    if len(header) >= 1 and header[0] != _HANDSHAKE:
        return NotTls("not a handshake record")
    if len(header) >= 2 and header[1] != 3:
        return NotTls("not a TLS record version")
    if len(header) >= 3 and header[2] > 4:
        return NotTls("not a TLS record version")
    if len(header) >= RECORD_HEADER:
        length = int.from_bytes(header[3:5], "big")
        if length == 0 or length > MAX_RECORD:
            return NotTls("bad record length")
    return None


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise _Short
        chunk = self.data[self.pos : end]
        self.pos = end
        return chunk

    def number(self, size: int) -> int:
        return int.from_bytes(self.take(size), "big")

    def vector(self, size: int) -> bytes:
        return self.take(self.number(size))

    @property
    def left(self) -> int:
        return len(self.data) - self.pos


def _body(body: bytes) -> NotTls | Hello:
    r = _Reader(body)
    try:
        version = r.take(2)
        if version[0] != 3:
            return NotTls("not a TLS ClientHello version")
        r.take(32)  # random
        if len(r.vector(1)) > 32:
            return NotTls("session id too long")
        suites = r.vector(2)
        if not suites or len(suites) % 2:
            return NotTls("bad cipher suites")
        if not r.vector(1):
            return NotTls("no compression method")
        if r.left == 0:
            return Hello(None)  # TLS 1.2 allows a ClientHello without extensions
        extensions = _Reader(r.vector(2))
        if r.left:
            return NotTls("bytes after the extensions")
        return _extensions(extensions)
    except _Short:
        return NotTls("ClientHello truncated")


def _extensions(r: _Reader) -> NotTls | Hello:
    seen: set[int] = set()
    server_name: str | None = None
    alpn: tuple[str, ...] = ()
    while r.left:
        kind = r.number(2)
        data = r.vector(2)
        if kind in seen:
            return NotTls("an extension twice")
        seen.add(kind)
        if kind == _EXT_SERVER_NAME:
            name = _server_name(data)
            if isinstance(name, NotTls):
                return name
            server_name = name
        elif kind == _EXT_ALPN:
            protocols = _alpn(data)
            if isinstance(protocols, NotTls):
                return protocols
            alpn = protocols
    return Hello(server_name, alpn)


def _alpn(data: bytes) -> tuple[str, ...] | NotTls:
    outer = _Reader(data)
    names = _Reader(outer.vector(2))
    if outer.left:
        return NotTls("bytes after the ALPN list")
    protocols: list[str] = []
    while names.left:
        name = names.vector(1)
        if not name:
            return NotTls("an empty ALPN protocol name")
        protocols.append(name.decode("latin-1"))
    if not protocols:
        return NotTls("an empty ALPN list")
    return tuple(protocols)


def _server_name(data: bytes) -> str | NotTls:
    outer = _Reader(data)
    names = _Reader(outer.vector(2))
    if outer.left:
        return NotTls("bytes after the server name list")
    host: str | None = None
    while names.left:
        kind = names.number(1)
        value = names.vector(2)
        if kind == _HOST_NAME and host is None:
            if not value or not value.isascii() or any(c <= 0x20 or c == 0x7F for c in value):
                return NotTls("bad server name")
            host = value.decode("ascii")
    if host is None:
        return NotTls("no host name in the server name extension")
    return host
