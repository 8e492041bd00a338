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

The parts: ``tables`` (ETS function types and roles, a data table), ``naming`` (ids, labels,
datapoint types from ETS data), ``results`` (the plan's records), ``pages`` (rooms and main
groups), ``reading`` (step 1, :func:`candidates`), ``merge`` (step 2, :func:`plan_import`).
The archive limits live here, in the package itself: callers (and tests) read and adjust
them as ``domogate.core.ets.MAX_…``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from domogate.core.ets.merge import import_plan, plan_import
from domogate.core.ets.naming import (
    MAX_ID,
    MAX_LABEL,
    format_dpt,
    label,
    looks_like_status,
    make_id,
    slugify,
)
from domogate.core.ets.pages import IMPORTED_PAGE
from domogate.core.ets.reading import candidates
from domogate.core.ets.results import Candidate, ImportPlan, PlannedBinding, PlannedPage, Skipped
from domogate.core.ets.tables import (
    FUNCTION_TYPES,
    ROLE_BINDINGS,
    ROLE_DPTS,
    SENSOR_BOOLEANS,
    UNSUPPORTED_ROLES,
)

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


__all__ = [
    "FUNCTION_TYPES",
    "IMPORTED_PAGE",
    "MAX_ARCHIVE_BYTES",
    "MAX_ARCHIVE_FILE_BYTES",
    "MAX_ARCHIVE_MEMBERS",
    "MAX_COMPRESSION_RATIO",
    "MAX_ID",
    "MAX_LABEL",
    "RATIO_EXEMPT_BYTES",
    "ROLE_BINDINGS",
    "ROLE_DPTS",
    "SENSOR_BOOLEANS",
    "UNSUPPORTED_ROLES",
    "ArchiveMember",
    "Candidate",
    "ImportPlan",
    "PlannedBinding",
    "PlannedPage",
    "Skipped",
    "archive_problem",
    "archive_total",
    "candidates",
    "format_dpt",
    "import_plan",
    "label",
    "looks_like_status",
    "make_id",
    "plan_import",
    "slugify",
]
