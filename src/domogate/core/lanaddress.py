"""Which address the server puts in join links, QR codes and ``/api/info``'s
``paths.local``: the address a phone on the same network can reach (pure choice).

:func:`choose`, in this order:

1. ``--advertise ADDRESS``, when given;
2. the address the server listens on, when it is one address (``--host 192.168.1.20``,
   or the default ``127.0.0.1``: a server that listens on loopback only is reached on
   loopback only);
3. listening on every address (``--host 0.0.0.0`` or ``::``): the project's
   ``server.address`` when it is not loopback;
4. else the machine's LAN address: the best of the candidates the adapter found
   (``domogate/lanprobe.py``), private IPv4 first, then other IPv4, then global IPv6;
   loopback, link-local and unspecified addresses never;
5. else ``127.0.0.1``, with a warning: no other address was found.

:func:`link_base` applies it to the URL a join link was asked on: a request on loopback or
on a wildcard address gets the advertised address instead when that one is not loopback
(an admin on the server's own machine makes links for phones).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit

from domogate.errors import InvalidInput

WILDCARDS = ("0.0.0.0", "::", "")  # noqa: S104 - the names of "every address"
LOOPBACK_FALLBACK = "127.0.0.1"
_HOST_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)")


class Source(StrEnum):
    ADVERTISE = "advertise"  # --advertise
    LISTEN = "listen"  # the one address the server listens on
    PROJECT = "project"  # the project's server.address
    LAN = "lan"  # this machine's LAN address
    FALLBACK = "fallback"  # nothing else: loopback, with a warning


@dataclass(frozen=True)
class Advertised:
    host: str
    source: Source

    @property
    def warning(self) -> bool:
        return self.source is Source.FALLBACK

    def describe(self) -> str:
        """One line for the console: what join links carry, and why."""
        why = {
            Source.ADVERTISE: "as --advertise says",
            Source.LISTEN: "the address the server listens on",
            Source.PROJECT: "the project's server.address",
            Source.LAN: "this machine's LAN address",
            Source.FALLBACK: (
                "WARNING: no LAN address found on this machine, so a phone cannot use the "
                "link; connect to a network or pass --advertise ADDRESS"
            ),
        }[self.source]
        text = f"join links use {self.host}, {why}"
        if self.source is Source.LISTEN and is_loopback(self.host):
            text += " (this machine only): pass --host 0.0.0.0 to let a phone on the network join"
        elif self.source is not Source.ADVERTISE:
            text += "; pass --advertise ADDRESS to choose another"
        return text


def is_wildcard(host: str) -> bool:
    return host.strip("[]") in WILDCARDS


def is_loopback(host: str) -> bool:
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_advertise(text: str) -> str:
    """``--advertise``: an IP address or a host name, not a wildcard; else ``InvalidInput``."""
    host = text.strip()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        if ip.is_unspecified:
            raise InvalidInput(
                f"--advertise {text!r} is every address, not one a phone can dial: give this "
                "machine's address on the network (e.g. 192.168.1.20) or its host name.",
                field="advertise",
            )
        return str(ip)
    name = host[:-1] if host.endswith(".") else host
    if not name or len(name) > 253 or not all(_HOST_LABEL.fullmatch(p) for p in name.split(".")):
        raise InvalidInput(
            f"--advertise {text[:100]!r} is not an IP address or a host name "
            "(e.g. 192.168.1.20 or house.local).",
            field="advertise",
        )
    return host


def _rank(candidate: str) -> int | None:
    """Lower is better; None: never advertised."""
    try:
        ip = ipaddress.ip_address(candidate.strip("[]"))
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_unspecified or ip.is_multicast:
        return None
    if ip.version == 4:
        return 0 if ip.is_private else 1
    return 2 if ip.is_global else 3


def best_lan_address(candidates: Sequence[str]) -> str | None:
    """The best candidate a phone can reach (see the module's rule 4), None if none."""
    ranked = [(r, i, c) for i, c in enumerate(candidates) if (r := _rank(c)) is not None]
    if not ranked:
        return None
    return str(ipaddress.ip_address(min(ranked)[2].strip("[]")))


def choose(
    listen_host: str,
    *,
    advertise: str | None = None,
    project_address: str | None = None,
    lan_candidates: Sequence[str] = (),
) -> Advertised:
    """The address join links carry (see the module's rules)."""
    if advertise:
        return Advertised(advertise, Source.ADVERTISE)
    if not is_wildcard(listen_host):
        return Advertised(listen_host.strip("[]"), Source.LISTEN)
    if project_address and not is_loopback(project_address) and not is_wildcard(project_address):
        return Advertised(project_address, Source.PROJECT)
    lan = best_lan_address(lan_candidates)
    if lan is not None:
        return Advertised(lan, Source.LAN)
    return Advertised(LOOPBACK_FALLBACK, Source.FALLBACK)


def url_of(scheme: str, host: str, port: int) -> str:
    """``scheme://host:port``, IPv6 in brackets."""
    h = f"[{host}]" if ":" in host and not host.startswith("[") else host
    return f"{scheme}://{h}:{port}"


def link_base(asked_on: str, advertised_url: str) -> str:
    """The local URL a join link carries: the URL it was asked on, unless that is loopback
    or a wildcard and the advertised one is not (then the advertised one)."""
    try:
        asked = urlsplit(asked_on).hostname or ""
        advertised = urlsplit(advertised_url).hostname or ""
    except ValueError:
        return advertised_url
    if (is_loopback(asked) or is_wildcard(asked)) and not is_loopback(advertised):
        return advertised_url.rstrip("/")
    return asked_on.rstrip("/")
