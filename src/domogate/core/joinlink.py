"""Join links: the URL in the QR code that carries what a new device needs.

Two forms, one fragment grammar::

    https://LOCAL/join#v=1&s=SERVER_ID&fp=SHA256HEX&otp=ABCDE-FGHJK[&x=EXTERNAL][&n=NAME]
        [&c=CLOUD_URL&r=RELAY]
    https://NAME.ZONE[:PORT]/join#v=1&s=…&fp=…&otp=…[&x=…][&n=…]&c=CLOUD_URL&r=RELAY
        &l=LOCAL

- The **local form** (the link's origin is the server's local URL) is what a server gives
  when the user may not use the cloud, the project's policy is ``local``, or the cloud
  link is down. ``c`` and ``r`` are still added when the user may use the cloud and the
  link is up (a client that cannot reach LOCAL tries the cloud).
- The **cloud form** (:attr:`JoinLink.prefer_cloud`) is given when the user may use the
  cloud path, the policy is ``cloud`` or ``local_and_cloud`` and the cloud link is up: a
  phone that opens the link outside the house loads the page through the relay. Its
  origin is the cloud URL, ``c`` is that same URL (so that a parser reads the cloud URL
  from one place in both forms) and ``l`` is the server's local URL (``scheme://host:port``,
  nothing else), for the page and the Python client to try the local path too.

``c`` is the installation's cloud URL (``https://<name>.<zone>[:port]``) and ``r`` the
relay's ``HOST:PORT`` to dial for it; they travel together or not at all. The fingerprint
``fp`` pins the same certificate on both paths (the relay passes TLS through). ``x`` is
the project's external address, ``n`` the project's name.

:attr:`JoinLink.base_url` is always the LOCAL URL, whichever form the link has: callers
build and read links in terms of the local URL and the cloud URL.

Everything after ``#`` is a fragment: browsers never send it to the server, so the OTP is
in no request line and no server log.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import SplitResult, parse_qsl, urlencode, urlsplit, urlunsplit

from domogate.errors import InvalidInput

JOIN_PATH = "/join"


@dataclass(frozen=True)
class JoinLink:
    base_url: str  # scheme://host:port of the server as reached locally (both forms)
    server_id: str
    fingerprint: str | None  # SHA-256 of the server certificate, lower-case hex; None on HTTP
    otp: str | None
    external_url: str | None = None
    server_name: str | None = None
    cloud_url: str | None = None
    cloud_relay: str | None = None
    prefer_cloud: bool = False  # the cloud form: the link's origin is the cloud URL

    @property
    def cloud_form(self) -> bool:
        """Whether :meth:`to_url` gives the cloud form (it needs the cloud URL and relay)."""
        return self.prefer_cloud and bool(self.cloud_url and self.cloud_relay)

    @property
    def origin(self) -> str:
        """The link's own ``scheme://host:port``: the cloud URL in the cloud form."""
        if self.cloud_form:
            assert self.cloud_url is not None
            return self.cloud_url.rstrip("/")
        return self.base_url.rstrip("/")

    def to_url(self) -> str:
        params: list[tuple[str, str]] = [("v", "1"), ("s", self.server_id)]
        if self.fingerprint:
            params.append(("fp", self.fingerprint))
        if self.otp:
            params.append(("otp", self.otp))
        if self.external_url:
            params.append(("x", self.external_url))
        if self.server_name:
            params.append(("n", self.server_name))
        if self.cloud_url and self.cloud_relay:
            params.append(("c", self.cloud_url))
            params.append(("r", self.cloud_relay))
        if self.cloud_form:
            params.append(("l", self.base_url.rstrip("/")))
        return self.origin + JOIN_PATH + "#" + urlencode(params)


def parse(url: str) -> JoinLink:
    """Parse a join link of either form; raises ``InvalidInput`` saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"Not a join link or server URL: {url[:200]!r} (expected https://HOST:PORT/join#…)."
        )
    if not parts.fragment:
        raise InvalidInput("This join link has no fragment (#…); copy the whole link.")
    fields = dict(parse_qsl(parts.fragment, keep_blank_values=True))
    if fields.get("v") != "1":
        raise InvalidInput("Unsupported join link version; update domogate.")
    server_id = fields.get("s")
    if not server_id:
        raise InvalidInput("The join link lacks the server id (s=…).")
    origin = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    cloud_url = (fields.get("c") or None) if fields.get("r") else None
    cloud_relay = (fields.get("r") or None) if fields.get("c") else None
    local = fields.get("l")
    base = _local_of(local, origin, cloud_url) if local is not None else origin
    return JoinLink(
        base_url=base,
        server_id=server_id,
        fingerprint=(fields.get("fp") or None),
        otp=(fields.get("otp") or None),
        external_url=(fields.get("x") or None),
        server_name=(fields.get("n") or None),
        cloud_url=cloud_url,
        cloud_relay=cloud_relay,
        prefer_cloud=local is not None,
    )


def _local_of(local: str, origin: str, cloud_url: str | None) -> str:
    """The ``l=`` of a cloud-form link, checked: an ``http(s)://host[:port]`` and nothing
    else, in a link whose origin is its own cloud URL (``c=``, with ``r=``)."""
    parts = _split(local)
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.username is not None
        or parts.password is not None
        or parts.path not in ("", "/")
        or parts.query
        or parts.fragment
        or "#" in local
        or "?" in local
    ):
        raise InvalidInput(
            f"The join link's local address (l=) is not an http(s)://HOST:PORT URL: "
            f"{local[:200]!r}; ask for a new join link."
        )
    if cloud_url is None:
        raise InvalidInput(
            "The join link has a local address (l=) but no cloud URL and relay (c=, r=); "
            "copy the whole link, or ask for a new one."
        )
    if cloud_url.rstrip("/").lower() != origin.lower():
        raise InvalidInput(
            f"The join link's address {origin[:200]} is not its cloud URL (c=); "
            "it was altered: ask for a new join link."
        )
    return urlunsplit((parts.scheme, parts.netloc, "", "", ""))


def _split(text: str) -> SplitResult | None:
    try:
        parts = urlsplit(text.strip())
        _ = parts.port  # raises on a port that is not a number
    except ValueError:
        return None
    return parts


def is_join_link(target: str) -> bool:
    parts = urlsplit(target.strip())
    return parts.path.rstrip("/") == JOIN_PATH and bool(parts.fragment)
