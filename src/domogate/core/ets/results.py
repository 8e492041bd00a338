"""ETS import, the results: planned objects, bindings and pages, what was skipped, the
import plan."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
