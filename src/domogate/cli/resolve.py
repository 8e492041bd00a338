"""Which user or device a command means: ids, names (case and accents folded) and
labels (an OTP typed any way).
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from domogate.cli.plumbing import dict_list, safe_text
from domogate.client.session import SignedIn
from domogate.core import otp as otp_rules
from domogate.errors import InvalidInput, NotFound


def _client_summary(client: Mapping[str, Any]) -> str:
    label = safe_text(client.get("label") or client.get("name") or "?")
    return (
        f"{label} (id {safe_text(client.get('id'))}, group {safe_text(client.get('group'))}, "
        f"{safe_text(client.get('status'))})"
    )


def _candidates(clients: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [{k: c.get(k) for k in ("id", "label", "name", "group", "status")} for c in clients]


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def _name_or_label_matches(
    clients: Sequence[Mapping[str, Any]], wanted: str, *, fold: Callable[[str], str]
) -> list[Mapping[str, Any]]:
    folded = fold(wanted)
    canonical = otp_rules.normalise(wanted)
    matches = []
    for client in clients:
        name = client.get("name")
        label = client.get("label")
        if (name is not None and fold(str(name)) == folded) or (
            label is not None
            and (
                fold(str(label)) == folded
                or (canonical and otp_rules.normalise(str(label)) == canonical)
            )
        ):
            matches.append(client)
    return matches


def resolve_user(clients: Sequence[Mapping[str, Any]], query: str) -> Mapping[str, Any]:
    """The client that ``query`` names: its id, its name (case-insensitive) or its label
    (a pending OTP may be typed with any case and with or without dashes). Names match
    without regard to accents when nothing matches exactly (``zoe`` finds ``Zoé``).

    When several match and exactly one of them is not revoked, that one wins; otherwise
    ``InvalidInput`` lists the candidates. ``NotFound`` when nothing matches.
    """
    wanted = query.strip()
    if not wanted:
        raise InvalidInput("Which user? Give a user id, a name or a label.")
    for client in clients:
        if str(client.get("id")) == wanted:
            return client
    matches = _name_or_label_matches(clients, wanted, fold=str.casefold)
    if not matches:  # "zoe" finds "Zoé"
        matches = _name_or_label_matches(clients, wanted, fold=_fold_accents)
    if len(matches) == 1:
        return matches[0]
    if not matches:
        known = ", ".join(_client_summary(c) for c in clients[:20]) or "none"
        more = f" and {len(clients) - 20} more" if len(clients) > 20 else ""
        raise NotFound(
            f"No user matches {safe_text(wanted)!r}. Users: {known}{more}.",
            candidates=_candidates(clients[:20]),
        )
    live = [c for c in matches if str(c.get("status", "")).lower() != "revoked"]
    if len(live) == 1:
        return live[0]
    raise InvalidInput(
        f"{safe_text(wanted)!r} matches several users: "
        + "; ".join(_client_summary(c) for c in matches)
        + ". Give the id.",
        candidates=_candidates(matches),
    )


def resolve_device(client: Mapping[str, Any], query: str) -> Mapping[str, Any]:
    """One of ``client``'s devices by id, name (case-insensitive) or unique id prefix."""
    devices: list[dict[str, Any]] = dict_list(client.get("devices"), "devices")
    wanted = query.strip()
    for device in devices:
        if str(device.get("id")) == wanted:
            return device
    folded = wanted.casefold()
    matches = [d for d in devices if str(d.get("name") or "").casefold() == folded]
    if not matches and len(wanted) >= 4:
        matches = [d for d in devices if str(d.get("id", "")).startswith(wanted)]
    if len(matches) == 1:
        return matches[0]
    listing = (
        "; ".join(
            f"{safe_text(d.get('name'))} (id {safe_text(d.get('id'))}"
            + (", revoked" if d.get("revoked") else "")
            + ")"
            for d in (matches or devices)
        )
        or "none"
    )
    who = safe_text(client.get("label") or client.get("name"))
    if matches:
        raise InvalidInput(
            f"{safe_text(wanted)!r} matches several devices of {who}: {listing}. Give the id."
        )
    raise NotFound(f"{who} has no device {safe_text(wanted)!r}. Devices: {listing}.")


async def find_user(session: SignedIn, query: str) -> Mapping[str, Any]:
    listing = await session.api.list_clients()
    return resolve_user(dict_list(listing.get("clients"), "clients"), query)
