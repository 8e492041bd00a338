"""Join links: the URL in the QR code that carries what a new device needs.

``https://HOST:PORT/join#v=1&s=SERVER_ID&fp=SHA256HEX&otp=ABCDE-FGHJK[&x=EXTERNAL][&n=NAME]
[&c=CLOUD_URL&r=RELAY]``

``c`` is the installation's cloud URL (``https://<name>.<zone>[:port]``) and ``r`` the
relay's ``HOST:PORT`` to dial for it, both present only when the user may use the cloud
path and the server's link is up; the fingerprint ``fp`` pins the same certificate on
both paths (the relay passes TLS through).

Everything after ``#`` is a fragment: browsers never send it to the server, so the OTP is
in no request line and no server log.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from domogate.errors import InvalidInput

JOIN_PATH = "/join"


@dataclass(frozen=True)
class JoinLink:
    base_url: str  # scheme://host:port of the server as reached locally
    server_id: str
    fingerprint: str | None  # SHA-256 of the server certificate, lower-case hex; None on HTTP
    otp: str | None
    external_url: str | None = None
    server_name: str | None = None
    cloud_url: str | None = None
    cloud_relay: str | None = None

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
        return self.base_url.rstrip("/") + JOIN_PATH + "#" + urlencode(params)


def parse(url: str) -> JoinLink:
    """Parse a join link; raises ``InvalidInput`` saying what is wrong."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput(
            f"Not a join link or server URL: {url!r} (expected https://HOST:PORT/join#…)."
        )
    if not parts.fragment:
        raise InvalidInput("This join link has no fragment (#…); copy the whole link.")
    fields = dict(parse_qsl(parts.fragment, keep_blank_values=True))
    if fields.get("v") != "1":
        raise InvalidInput("Unsupported join link version; update domogate.")
    server_id = fields.get("s")
    if not server_id:
        raise InvalidInput("The join link lacks the server id (s=…).")
    base = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
    return JoinLink(
        base_url=base,
        server_id=server_id,
        fingerprint=(fields.get("fp") or None),
        otp=(fields.get("otp") or None),
        external_url=(fields.get("x") or None),
        server_name=(fields.get("n") or None),
        cloud_url=(fields.get("c") or None) if fields.get("r") else None,
        cloud_relay=(fields.get("r") or None) if fields.get("c") else None,
    )


def is_join_link(target: str) -> bool:
    parts = urlsplit(target.strip())
    return parts.path.rstrip("/") == JOIN_PATH and bool(parts.fragment)
