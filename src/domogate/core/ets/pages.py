"""ETS import, pages: one per main group (group addresses) or per room (functions)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from domogate.core.ets.naming import label, make_id, slugify
from domogate.core.ets.results import PlannedPage

IMPORTED_PAGE = ("imported", "Imported")
"""The page of group addresses without a main group (free address style)."""


def main_group_pages(parsed: Mapping[str, Any]) -> dict[str, PlannedPage]:
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


def page_of_address(address: str, mains: Mapping[str, PlannedPage]) -> PlannedPage:
    if "/" not in address:
        return PlannedPage(*IMPORTED_PAGE)
    main = address.split("/")[0]
    return mains.get(main) or PlannedPage(f"main-group-{main}", f"Main group {main}")


def room_pages(parsed: Mapping[str, Any]) -> dict[str, PlannedPage]:
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
