"""The cloud's wire rules, pure: installation names, the control link's signed message,
and the two lines of a pool connection (``docs/cloud.md``, "Wire protocol").

A pool connection is plain TCP from the home server to the relay's port (the bytes it
carries later are the client's TLS, end to end). It is authenticated by the pool key that
the cloud gave the server over its key-authenticated TLS control link:

- the server opens it with ``DGPOOL1 <name> <conn_id> <mac>\\n``, ``mac`` =
  HMAC-SHA256(pool key, ``pool\\0<name>\\0<conn_id>``) in hex; ``conn_id`` is 16 random
  bytes in hex, never used twice within one control link (the relay remembers them);
- when a client arrives, the relay writes ``DGATTACH1 <host> <port> <mac>\\n``, ``mac`` =
  HMAC-SHA256(pool key, ``attach\\0<conn_id>\\0<host>\\0<port>``), then the client's bytes,
  starting with its TLS ClientHello. The server trusts the client address only when the
  MAC is right; the path ``cloud`` comes from this line, never from the client.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from domogate.errors import InvalidInput

POOL_MAGIC = b"DGPOOL1 "
ATTACH_MAGIC = b"DGATTACH1 "
MAX_LINE = 256  # bytes, newline included, of either line
CONN_ID_BYTES = 16
POOL_KEY_BYTES = 32
NONCE_BYTES = 32

_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_ZONE_MAX = 200


class WireError(ValueError):
    """A line that is malformed, too long, or whose MAC is wrong (the connection is closed;
    no detail goes back to the peer)."""


# --- names -------------------------------------------------------------------------------


def is_dns_label(text: str) -> bool:
    """One lower-case DNS label (RFC 1035 letters, digits, inner hyphens; 1 to 63)."""
    return bool(_LABEL.match(text))


def check_zone(zone: str) -> str:
    """A cloud's DNS zone (``cloud.example.org``, ``localhost``): lower-case labels."""
    zone = zone.strip().rstrip(".").lower()
    labels = zone.split(".")
    if not zone or len(zone) > _ZONE_MAX or not all(is_dns_label(x) for x in labels):
        raise InvalidInput(
            f"Not a DNS zone: {zone!r} (expected labels of letters, digits and hyphens, "
            "e.g. cloud.example.org).",
            field="zone",
        )
    return zone


def cloud_name(key: Ed25519PublicKey) -> str:
    """The installation's cloud name: one DNS label derived from the server's link key
    (16 base32 letters, 80 bits of SHA-256). The cloud accepts a name only from the key it
    is derived from, so no one can claim a house's name before the house does: the server
    id, which anyone on the LAN can read, does not give it."""
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    digest = hashlib.sha256(b"domogate-cloud-name\0" + raw).digest()
    return base64.b32encode(digest).decode("ascii").lower()[:16]


def name_fits_key(name: str, key: Ed25519PublicKey) -> bool:
    """Whether ``name`` is the cloud name of ``key`` (:func:`cloud_name`)."""
    return hmac.compare_digest(name, cloud_name(key))


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not is_dns_label(name):
        raise InvalidInput(
            f"Not an installation name: {name!r} (one DNS label: letters, digits, hyphens).",
            field="name",
        )
    return name


DEFAULT_PORT = 7443  # a cloud's port when an address names none


def split_address(text: str, default_port: int = DEFAULT_PORT) -> tuple[str, int]:
    """``HOST[:PORT]`` (``[v6]:PORT`` too) → ``(host, port)``; ``ValueError`` when it is
    not one (no host, a port out of range or not a number)."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""
    if not host:
        raise ValueError(f"no host in {text!r}")
    port = int(port_text) if port_text else default_port
    if not 1 <= port <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, port


def host_of(name: str, zone: str) -> str:
    return f"{name}.{zone}"


def is_installation_url(url: str, name: str) -> bool:
    """Whether ``url`` is exactly ``https://<name>.<zone>[:port]`` (a lower-case DNS zone,
    no user, path, query or fragment): what a cloud's welcome may name as the house's
    cloud URL. The server orders a certificate for that host and its page fails over to
    it, so nothing else (a wildcard, CSP syntax, another name) may come through."""
    prefix = f"https://{name}."
    if not url.startswith(prefix) or len(url) > 300:
        return False
    rest = url[len(prefix) :].removesuffix("/")
    zone, colon, port = rest.partition(":")
    if colon and not (port.isdigit() and port[0] != "0" and 1 <= int(port) <= 65535):
        return False
    try:
        return check_zone(zone) == zone
    except InvalidInput:
        return False


def name_in_zone(sni: str | None, zone: str) -> str | None:
    """The installation label of a ClientHello's server name, or ``None`` when the name is
    not ``<label>.<zone>`` (the cloud's own name, another name, an address, no name)."""
    if not sni:
        return None
    sni = sni.rstrip(".").lower()
    suffix = "." + zone
    if not sni.endswith(suffix):
        return None
    label = sni[: -len(suffix)]
    return label if is_dns_label(label) else None


# --- the control link's signature ----------------------------------------------------------


def link_message(nonce: bytes, cloud_fingerprint: str, name: str) -> bytes:
    """The exact bytes a server signs to prove its key on a control link. The nonce is the
    cloud's, fresh for this TLS connection; the fingerprint is the certificate the server
    saw on it (lower-case hex SHA-256), so a signature made for one TLS session is worth
    nothing on another."""
    return (
        b"domogate-cloud-link/1\0"
        + nonce
        + b"\0"
        + cloud_fingerprint.encode()
        + b"\0"
        + (name.encode())
    )


def public_key_text(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def parse_public_key(text: str) -> Ed25519PublicKey:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if len(raw) != 32:
            raise ValueError("length")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, TypeError) as exc:
        raise InvalidInput("Malformed server public key.", field="public_key") from exc


def sign_link(key: Ed25519PrivateKey, nonce: bytes, cloud_fingerprint: str, name: str) -> str:
    sig = key.sign(link_message(nonce, cloud_fingerprint, name))
    return base64.urlsafe_b64encode(sig).rstrip(b"=").decode("ascii")


def verify_link(
    public_key: Ed25519PublicKey, signature: str, nonce: bytes, cloud_fingerprint: str, name: str
) -> bool:
    try:
        sig = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
        public_key.verify(sig, link_message(nonce, cloud_fingerprint, name))
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


# --- pool connections ----------------------------------------------------------------------


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class PoolHello:
    name: str
    conn_id: str  # hex
    mac: str


def pool_line(name: str, conn_id: str, key: bytes) -> bytes:
    return POOL_MAGIC + f"{name} {conn_id} {_mac(key, 'pool', name, conn_id)}\n".encode()


def parse_pool_line(line: bytes) -> PoolHello:
    """Split a pool line (MAC not yet checked: the name says which key to check it with)."""
    if len(line) > MAX_LINE or not line.startswith(POOL_MAGIC) or not line.endswith(b"\n"):
        raise WireError("not a pool line")
    try:
        name, conn_id, mac = line[len(POOL_MAGIC) : -1].decode("ascii").split(" ")
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("malformed pool line") from exc
    if not is_dns_label(name) or not _is_hex(conn_id, CONN_ID_BYTES) or not _is_hex(mac, 32):
        raise WireError("malformed pool line")
    return PoolHello(name, conn_id, mac)


def pool_mac_ok(hello: PoolHello, key: bytes) -> bool:
    return hmac.compare_digest(hello.mac, _mac(key, "pool", hello.name, hello.conn_id))


def attach_line(conn_id: str, host: str, port: int, key: bytes) -> bytes:
    mac = _mac(key, "attach", conn_id, host, str(port))
    return ATTACH_MAGIC + f"{host} {port} {mac}\n".encode()


def parse_attach_line(line: bytes, conn_id: str, key: bytes) -> tuple[str, int]:
    """The client's address from an attach line, or :class:`WireError`."""
    if len(line) > MAX_LINE or not line.startswith(ATTACH_MAGIC) or not line.endswith(b"\n"):
        raise WireError("not an attach line")
    try:
        host, port_text, mac = line[len(ATTACH_MAGIC) : -1].decode("ascii").split(" ")
        port = int(port_text)
        ipaddress.ip_address(host)
    except (UnicodeDecodeError, ValueError) as exc:
        raise WireError("malformed attach line") from exc
    if not 0 <= port <= 65535 or port_text != str(port):
        raise WireError("malformed attach line")
    if not hmac.compare_digest(mac, _mac(key, "attach", conn_id, host, port_text)):
        raise WireError("attach line with a wrong MAC")
    return host, port


def _is_hex(text: str, nbytes: int) -> bool:
    return len(text) == 2 * nbytes and all(c in "0123456789abcdef" for c in text)
