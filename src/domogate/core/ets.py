"""ETS import: a parsed ETS project (xknxproject's dict) mapped onto project objects (pure).

Two steps, both pure (no I/O, no clock):

1. :func:`candidates` turns the parsed export into the objects and pages it describes:
   ETS 6 *functions* first (a switchable light becomes a ``switch``, a sun protection a
   ``shutter``…, on the page of the function's room), then every group address no
   function uses, by its datapoint type (``1.x`` → ``switch``, ``1.008`` → ``shutter``,
   ``17.001`` → ``scene``, ``20.102`` → ``thermostat``, other known types → ``sensor``),
   on the page of its main group. What cannot be mapped is reported, with the reason.
2. :func:`plan_import` merges them into an existing :class:`~domogate.core.project.Project`:
   objects are found again by id (ids are derived from the ETS data, so re-runs find
   them) or by a shared binding; then only bindings they lack are added, so what the
   integrator edited by hand (name, page, type, restrictions, bindings) stays.

The rules are documented in docs/project.md, "Importing from ETS".
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from domogate.core.kinds import KINDS
from domogate.core.project import Project
from domogate.core.values import dpt_main, is_known_dpt

IMPORTED_PAGE = ("imported", "Imported")
"""The page of group addresses without a main group (free address style)."""

MAX_ID = 64
MAX_LABEL = 100

# ETS 6 function types (knx_master.xml FunctionType ids; stable across languages).
FUNCTION_TYPES: Mapping[str, str] = {
    "FT-1": "switch",  # switchable light
    "FT-2": "dimmer",  # dimmable light (deprecated form)
    "FT-6": "dimmer",  # dimmable light
    "FT-3": "shutter",  # sun protection (deprecated form)
    "FT-7": "shutter",  # sun protection
    "FT-4": "thermostat",  # heating radiator (deprecated)
    "FT-5": "thermostat",  # heating floor (deprecated)
    "FT-8": "thermostat",  # heating (switching variable)
    "FT-9": "thermostat",  # heating (continuous variable)
}

# Group address roles of a function (knx_master.xml DatapointRole names) → binding key.
ROLE_BINDINGS: Mapping[str, Mapping[str, str]] = {
    "switch": {"SwitchOnOff": "command", "InfoOnOff": "state"},
    "dimmer": {
        "SwitchOnOff": "command",
        "InfoOnOff": "state",
        "DimmingValue": "brightness",
        "InfoDimmingValue": "brightness_state",
    },
    "shutter": {
        "MoveUpDown": "command",
        "StopStepUpDown": "stop",
        "CurrentAbsolutePositionBlindsPercentage": "position",
        "CurrentAbsolutePositionSlatPercentage": "slats",
    },
    "thermostat": {"TempRoom": "temperature", "TempRoomSetpoint": "target", "HVACMode": "mode"},
}

# The datapoint type ETS defines for a role, used when the group address has none.
ROLE_DPTS: Mapping[str, str] = {
    "SwitchOnOff": "1.001",
    "InfoOnOff": "1.001",
    "DimmingValue": "5.001",
    "InfoDimmingValue": "5.001",
    "MoveUpDown": "1.008",
    "StopStepUpDown": "1.007",
    "CurrentAbsolutePositionBlindsPercentage": "5.001",
    "CurrentAbsolutePositionSlatPercentage": "5.001",
    "TempRoom": "9.001",
    "TempRoomSetpoint": "9.001",
    "HVACMode": "20.102",
}

UNSUPPORTED_ROLES: Mapping[str, str] = {
    "DimmingControl": "relative dimming (DPT 3.007) has no domogate attribute",
}

# DPT 1.x subtypes that are inputs (alarms, contacts, presence): shown, not switched.
SENSOR_BOOLEANS = frozenset({5, 6, 11, 18, 19})

_STATUS_RE = re.compile(
    r"(?<![a-z])(status|state|feedback|r(ü|ue)ckmeldung|rm|zustand)(?![a-z])", re.IGNORECASE
)
_TRANSLITERATE = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "æ": "ae", "ø": "o"})


# --- results -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlannedBinding:
    key: str
    address: str
    dpt: str

    def data(self) -> dict[str, Any]:
        return {"address": self.address, "dpt": self.dpt}


@dataclass(frozen=True)
class PlannedPage:
    id: str
    title: str

    def data(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title}


@dataclass(frozen=True)
class Candidate:
    """An object the ETS export describes."""

    id: str
    name: str
    type: str
    page: PlannedPage
    bindings: tuple[PlannedBinding, ...]
    source: str  # "function F-1" or "group address 1/2/3", for the report

    def data(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "type": self.type,
            "page": self.page.id,
            "bindings": {b.key: b.data() for b in self.bindings},
        }


@dataclass(frozen=True)
class Skipped:
    """Something of the export that was not imported, and why."""

    address: str | None
    name: str
    reason: str

    def __str__(self) -> str:
        where = f"{self.address} " if self.address else ""
        return f"{where}{self.name!r}: {self.reason}"

    def data(self) -> dict[str, Any]:
        return {"address": self.address, "name": self.name, "reason": self.reason}


@dataclass
class ImportPlan:
    """What an import changes in a project (empty when everything is already there)."""

    pages: list[PlannedPage] = field(default_factory=list)
    objects: list[Candidate] = field(default_factory=list)
    bindings: list[tuple[str, PlannedBinding]] = field(default_factory=list)  # (object id, …)
    merged: list[str] = field(default_factory=list)  # existing objects that gain bindings
    unchanged: list[str] = field(default_factory=list)  # existing objects left as they are
    skipped: list[Skipped] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.pages or self.objects or self.bindings)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.objects),
            "merged": len(self.merged),
            "unchanged": len(self.unchanged),
            "skipped": len(self.skipped),
            "pages_created": len(self.pages),
        }


# --- archive limits (a .knxproj is a ZIP archive; docs/security.md, "Input limits") -----

MAX_ARCHIVE_FILE_BYTES = 256 * 1024 * 1024
"""Size of the ``.knxproj`` file itself (real exports: a few MiB to some tens)."""
MAX_ARCHIVE_MEMBERS = 20_000
"""Members of one archive (the export, and the project archive inside it)."""
MAX_ARCHIVE_BYTES = 1024 * 1024 * 1024
"""Uncompressed size of all members together, of the export and the project archive inside
it (real exports: up to some hundreds of MiB of manufacturer XML)."""
MAX_COMPRESSION_RATIO = 100
"""Uncompressed size over compressed size of one member (real XML: 10 to 20; DEFLATE can
reach about 1,000, a zip bomb's trademark)."""
RATIO_EXEMPT_BYTES = 1024 * 1024
"""Members up to this size (uncompressed) are not held to the ratio: they cannot hurt."""


@dataclass(frozen=True)
class ArchiveMember:
    """One member as an archive's central directory declares it."""

    name: str
    size: int  # uncompressed
    compressed: int


def _mib(size: int) -> str:
    if size >= 1024**3:
        return f"{size / 1024**3:g} GiB"
    return f"{size / (1024 * 1024):.0f} MiB"


def archive_problem(members: Iterable[ArchiveMember], *, total_so_far: int = 0) -> str | None:
    """Why an archive with these members is refused (too many, too large once unpacked, a
    member compressed beyond any real file), or None. ``total_so_far`` is the uncompressed
    size of the archives already counted (the export around a nested project archive)."""
    total = total_so_far
    for count, member in enumerate(members, start=1):
        if count > MAX_ARCHIVE_MEMBERS:
            return (
                f"it holds more than {MAX_ARCHIVE_MEMBERS} files; an ETS export holds far "
                "fewer (is it an ETS project export?)"
            )
        total += max(member.size, 0)
        if total > MAX_ARCHIVE_BYTES:
            return (
                f"it unpacks to more than {_mib(MAX_ARCHIVE_BYTES)}; an ETS export unpacks "
                "to far less (is it an ETS project export?)"
            )
        if member.size > RATIO_EXEMPT_BYTES and member.size > MAX_COMPRESSION_RATIO * max(
            member.compressed, 1
        ):
            return (
                f"its member {member.name!r} is compressed more than "
                f"{MAX_COMPRESSION_RATIO} to 1 ({_mib(member.size)} unpacked), as in a zip "
                "bomb, not in an ETS export"
            )
    return None


def archive_total(members: Iterable[ArchiveMember]) -> int:
    return sum(max(m.size, 0) for m in members)


# --- small helpers -------------------------------------------------------------------


def format_dpt(dpt: Mapping[str, Any] | None) -> str | None:
    """``{"main": 9, "sub": 1}`` → ``"9.001"``; ``{"main": 9, "sub": None}`` → ``"9"``."""
    if not dpt or dpt.get("main") is None:
        return None
    main, sub = int(dpt["main"]), dpt.get("sub")
    return str(main) if sub is None else f"{main}.{int(sub):03d}"


def slugify(text: str, *, max_length: int = MAX_ID) -> str:
    """Lowercase ``a-z 0-9 -`` (umlauts transliterated); empty when nothing is left."""
    text = unicodedata.normalize("NFKC", text).lower().translate(_TRANSLITERATE)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")
    return slug[:max_length].rstrip("-")


def make_id(name: str, suffix: str, fallback: str) -> str:
    """``slug(name)_suffix``, at most 64 characters; the suffix (unique) is never cut."""
    suffix = slugify(suffix)
    room = MAX_ID - len(suffix) - 1
    base = slugify(name, max_length=room) or fallback
    return f"{base}_{suffix}" if suffix else base


def label(text: str, fallback: str) -> str:
    """A valid name or title: control characters replaced, at most 100 characters."""
    cleaned = "".join(
        " " if unicodedata.category(c) in ("Cc", "Cs") else c for c in str(text or "")
    ).strip()
    if not cleaned:
        return fallback
    if len(cleaned) > MAX_LABEL:
        cleaned = cleaned[: MAX_LABEL - 1].rstrip() + "…"
    return cleaned


def looks_like_status(name: str) -> bool:
    """Whether a group address name says it carries a feedback (``Licht Status``, ``RM``)."""
    return _STATUS_RE.search(name) is not None


def _address_key(address: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in address.split("/"))
    except ValueError:
        return (1 << 30,)


# --- pages ---------------------------------------------------------------------------


def _main_group_pages(parsed: Mapping[str, Any]) -> dict[str, PlannedPage]:
    """Main group number → its page (``neue-hauptgruppe-1``, titled after the group)."""
    ranges: Mapping[str, Any] = parsed.get("group_ranges") or {}
    names: dict[str, str] = {}
    for key, value in ranges.items():
        if "/" in key or not key.isdigit():
            continue
        names[key] = label(str((value or {}).get("name") or ""), f"Main group {key}")
    counts: dict[str, int] = {}
    for title in names.values():
        counts[title] = counts.get(title, 0) + 1
    pages = {}
    for main, title in names.items():
        shown = f"{title} ({main})" if counts[title] > 1 else title
        pages[main] = PlannedPage(make_id(title, main, "main-group"), shown)
    return pages


def _page_of_address(address: str, mains: Mapping[str, PlannedPage]) -> PlannedPage:
    if "/" not in address:
        return PlannedPage(*IMPORTED_PAGE)
    main = address.split("/")[0]
    return mains.get(main) or PlannedPage(f"main-group-{main}", f"Main group {main}")


def _room_pages(parsed: Mapping[str, Any]) -> dict[str, PlannedPage]:
    """Space identifier → page, for every space (room, floor…) of the building structure."""
    spaces: list[tuple[str, str, str]] = []  # (identifier, name, parent name)

    # Depth first in the export's order, without recursion (however deep the spaces nest).
    top = parsed.get("locations") or {}
    stack: list[tuple[Iterator[tuple[Any, Any]], str]] = []
    if isinstance(top, Mapping):
        stack.append((iter(top.items()), ""))
    while stack:
        items, parent = stack[-1]
        entry = next(items, None)
        if entry is None:
            stack.pop()
            continue
        key, node = entry
        if not isinstance(node, Mapping):
            continue
        name = label(str(node.get("name") or key), "Room")
        spaces.append((str(node.get("identifier") or ""), name, parent))
        children = node.get("spaces") or {}
        if isinstance(children, Mapping):
            stack.append((iter(children.items()), name))
    slug_counts: dict[str, int] = {}
    for _, name, _ in spaces:
        slug = slugify(name) or "room"
        slug_counts[slug] = slug_counts.get(slug, 0) + 1
    pages: dict[str, PlannedPage] = {}
    for identifier, name, parent in spaces:
        slug = slugify(name) or "room"
        if slug_counts[slug] > 1 and parent:
            page = PlannedPage(slugify(f"{parent} {name}") or slug, f"{parent} / {name}")
        else:
            page = PlannedPage(slug, name)
        if identifier:
            pages[identifier] = page
    return pages


# --- step 1: what the export describes ---------------------------------------------------


@dataclass
class _Found:
    candidates: list[Candidate] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)


def _ga_label(ga: Mapping[str, Any], address: str) -> str:
    return label(str(ga.get("name") or ""), f"Group address {address}")


def _usable_dpt(dpt: str | None, address: str, name: str, out: _Found) -> str | None:
    if dpt is None:
        out.skipped.append(Skipped(address, name, "no datapoint type"))
        return None
    if not re.fullmatch(r"[0-9]{1,3}(\.[0-9]{3})?", dpt) or not is_known_dpt(dpt):
        out.skipped.append(Skipped(address, name, f"datapoint type {dpt} is not supported"))
        return None
    return dpt


def _function_candidate(
    function: Mapping[str, Any],
    group_addresses: Mapping[str, Any],
    rooms: Mapping[str, PlannedPage],
    mains: Mapping[str, PlannedPage],
    out: _Found,
) -> tuple[set[str], dict[str, PlannedPage]]:
    """Add the function's object; return the addresses it handles (binds, or reports as
    skipped) and those it leaves to the datapoint-type rules (with their page)."""
    identifier = str(function.get("identifier") or "")
    fallback_name = str(function.get("usage_text") or "") or f"Function {identifier}"
    name = label(str(function.get("name") or ""), label(fallback_name, "Function"))
    refs: Mapping[str, Any] = function.get("group_addresses") or {}
    addresses = sorted(refs, key=_address_key)
    first_page = _page_of_address(addresses[0], mains) if addresses else PlannedPage(*IMPORTED_PAGE)
    page = rooms.get(str(function.get("space_id") or "")) or first_page
    object_type = FUNCTION_TYPES.get(str(function.get("function_type") or ""))
    released = dict.fromkeys(addresses, page)
    if object_type is None:
        return set(), released  # a custom function: its addresses, one by one, in its room

    roles = {str((refs[a] or {}).get("role") or "") for a in addresses}
    role_keys = dict(ROLE_BINDINGS[object_type])
    if "InfoDimmingValue" in roles and "DimmingValue" not in roles:
        role_keys["InfoDimmingValue"] = "brightness"  # the function's only brightness
    bindings: list[PlannedBinding] = []
    used_keys: set[str] = set()
    handled: set[str] = set()  # bound, or skipped with a reason
    for address in addresses:
        role = str((refs[address] or {}).get("role") or "")
        ga = group_addresses.get(address) or {}
        ga_name = _ga_label(ga, address)
        if role in UNSUPPORTED_ROLES:
            out.skipped.append(Skipped(address, ga_name, UNSUPPORTED_ROLES[role]))
            handled.add(address)
            released.pop(address)
            continue
        key = role_keys.get(role)
        if key is None or key in used_keys:
            continue  # left to the datapoint-type rules
        dpt = format_dpt(ga.get("dpt")) or ROLE_DPTS.get(role)
        attribute = next(a for a in KINDS[object_type].attributes if key in (a.write, a.state))
        if (
            dpt is None
            or not is_known_dpt(dpt)
            or (attribute.mains and dpt_main(dpt) not in attribute.mains)
        ):
            continue  # a datapoint type that does not fit: left to the rules as well
        bindings.append(PlannedBinding(key, address, dpt))
        used_keys.add(key)
        handled.add(address)
        released.pop(address)
    if not bindings:
        out.skipped.append(
            Skipped(None, name, f"function {identifier}: no group address with a usable role")
        )
        return handled, released
    order = KINDS[object_type].binding_keys()
    bindings.sort(key=lambda b: order.index(b.key))
    out.candidates.append(
        Candidate(
            id=make_id(name, identifier.replace("-", "").lower(), "function"),
            name=name,
            type=object_type,
            page=page,
            bindings=tuple(bindings),
            source=f"function {identifier}",
        )
    )
    return handled, released


def _address_candidate(address: str, ga: Mapping[str, Any], page: PlannedPage, out: _Found) -> None:
    name = _ga_label(ga, address)
    dpt = _usable_dpt(format_dpt(ga.get("dpt")), address, name, out)
    if dpt is None:
        return
    main = dpt_main(dpt)
    sub = int(dpt.split(".")[1]) if "." in dpt else None
    status = looks_like_status(name)
    if main == 1 and sub == 8:
        object_type, key = "shutter", "command"
    elif main == 1 and sub not in SENSOR_BOOLEANS:
        object_type, key = "switch", "state" if status else "command"
    elif main == 17 and sub == 1:
        object_type, key = "scene", "command"
    elif main == 20 and sub == 102:
        object_type, key = "thermostat", "mode_state" if status else "mode"
    else:
        object_type, key = "sensor", "state"
    out.candidates.append(
        Candidate(
            id=make_id(name, address.replace("/", "-"), "ga"),
            name=name,
            type=object_type,
            page=page,
            bindings=(PlannedBinding(key, address, dpt),),
            source=f"group address {address}",
        )
    )


def candidates(parsed: Mapping[str, Any]) -> tuple[list[Candidate], list[Skipped]]:
    """The objects an ETS export describes, and what it holds that cannot be imported.

    ``parsed`` is what ``xknxproject.XKNXProj(...).parse()`` returns (only
    ``group_addresses``, ``group_ranges``, ``locations`` and ``functions`` are read).
    """
    out = _Found()
    group_addresses: Mapping[str, Any] = parsed.get("group_addresses") or {}
    mains = _main_group_pages(parsed)
    rooms = _room_pages(parsed)
    covered: set[str] = set()
    released: dict[str, PlannedPage] = {}
    for function in (parsed.get("functions") or {}).values():
        bound, left = _function_candidate(function, group_addresses, rooms, mains, out)
        covered |= bound
        for address, page in left.items():
            released.setdefault(address, page)
    for address in sorted(group_addresses, key=_address_key):
        if address in covered:
            continue
        page = released.get(address) or _page_of_address(address, mains)
        _address_candidate(address, group_addresses[address] or {}, page, out)
    for address in sorted(set(released) - set(group_addresses), key=_address_key):
        out.skipped.append(Skipped(address, address, "used by a function but not defined"))
    return out.candidates, out.skipped


# --- step 2: the merge ---------------------------------------------------------------------


@dataclass
class _Bound:
    """Which objects bind each address, with the datapoint type's main number."""

    by_address: dict[str, list[tuple[str, int | None]]] = field(default_factory=dict)

    def add(self, object_id: str, address: str, dpt: str | None) -> None:
        main = dpt_main(dpt) if dpt else None
        self.by_address.setdefault(address, []).append((object_id, main))

    def users(self, address: str, *, besides: str | None = None) -> list[str]:
        return [o for o, _ in self.by_address.get(address, []) if o != besides]

    def clash(self, address: str, dpt: str, *, besides: str | None = None) -> str | None:
        """An object binding ``address`` with another DPT main number, if any."""
        main = dpt_main(dpt)
        for object_id, other in self.by_address.get(address, []):
            if object_id != besides and other is not None and other != main:
                return object_id
        return None


def _merge_into(
    target_id: str,
    target_type: str,
    target_bindings: Mapping[str, str],  # key -> address
    cand: Candidate,
    bound: _Bound,
    plan: ImportPlan,
) -> None:
    allowed = KINDS[target_type].binding_keys()
    addresses = set(target_bindings.values())
    added = False
    for binding in cand.bindings:
        if binding.key in target_bindings or binding.address in addresses:
            continue  # already there, possibly edited by hand: kept as it is
        if binding.key not in allowed:
            plan.skipped.append(
                Skipped(
                    binding.address,
                    cand.name,
                    f"object {target_id!r} is a {target_type}, which has no binding "
                    f"{binding.key!r}",
                )
            )
            continue
        other = bound.clash(binding.address, binding.dpt, besides=target_id)
        if other is not None:
            plan.skipped.append(
                Skipped(
                    binding.address,
                    cand.name,
                    f"object {other!r} binds it with another datapoint type",
                )
            )
            continue
        plan.bindings.append((target_id, binding))
        bound.add(target_id, binding.address, binding.dpt)
        added = True
    (plan.merged if added else plan.unchanged).append(target_id)


def plan_import(project: Project, found: Iterable[Candidate]) -> ImportPlan:
    """What importing ``found`` into ``project`` adds; nothing already there is changed.

    An existing object is the same as a candidate when it has the candidate's id, or else
    when it is of the same type and binds one of the candidate's addresses under the same
    key. Such an object only
    gains the bindings it lacks (keys its type has, addresses it does not bind yet). Any
    other candidate becomes a new object, unless it is a single group address that some
    object already binds (reported as skipped).
    """
    plan = ImportPlan()
    existing = {o.id: o for o in project.objects}
    page_ids = {p.id for p in project.pages}
    bound = _Bound()
    pairs: dict[tuple[str, str, str], str] = {}  # (type, key, address) -> first object
    for obj in project.objects:
        for key, existing_binding in obj.bindings.items():
            bound.add(obj.id, existing_binding.address, existing_binding.dpt)
            pairs.setdefault((obj.type.value, key, existing_binding.address), obj.id)
    taken = set(existing)
    seen_targets: set[str] = set()

    for cand in found:
        target_id = cand.id if cand.id in existing else None
        if target_id is None:
            target_id = next(
                (
                    pairs[(cand.type, b.key, b.address)]
                    for b in cand.bindings
                    if (cand.type, b.key, b.address) in pairs
                ),
                None,
            )
        if target_id is not None and target_id in existing:
            if target_id in seen_targets:
                continue  # two candidates resolved to one object: merged once
            seen_targets.add(target_id)
            obj = existing[target_id]
            _merge_into(
                target_id,
                obj.type.value,
                {k: b.address for k, b in obj.bindings.items()},
                cand,
                bound,
                plan,
            )
            continue
        if len(cand.bindings) == 1:
            users = bound.users(cand.bindings[0].address)
            if users:
                plan.skipped.append(
                    Skipped(
                        cand.bindings[0].address,
                        cand.name,
                        f"already bound by object {users[0]!r}",
                    )
                )
                continue
        kept: list[PlannedBinding] = []
        for binding in cand.bindings:
            other = bound.clash(binding.address, binding.dpt)
            if other is not None:
                plan.skipped.append(
                    Skipped(
                        binding.address,
                        cand.name,
                        f"object {other!r} binds it with another datapoint type",
                    )
                )
            else:
                kept.append(binding)
        if not kept:
            continue
        object_id, n = cand.id, 2
        while object_id in taken:
            suffix = f"-{n}"
            object_id, n = cand.id[: MAX_ID - len(suffix)] + suffix, n + 1
        taken.add(object_id)
        page = cand.page
        if page.id not in page_ids:
            page_ids.add(page.id)
            plan.pages.append(page)
        created = Candidate(object_id, cand.name, cand.type, page, tuple(kept), cand.source)
        plan.objects.append(created)
        for binding in kept:
            bound.add(object_id, binding.address, binding.dpt)
            pairs.setdefault((cand.type, binding.key, binding.address), object_id)
    return plan


def import_plan(project: Project, parsed: Mapping[str, Any]) -> ImportPlan:
    """:func:`candidates` of ``parsed`` merged into ``project`` by :func:`plan_import`."""
    found, skipped = candidates(parsed)
    plan = plan_import(project, found)
    plan.skipped[:0] = skipped
    return plan
