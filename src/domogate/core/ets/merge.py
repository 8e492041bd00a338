"""ETS import, step 2: the merge rules (:func:`plan_import`): objects found again by id or
by a shared binding; only the bindings they lack are added."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from domogate.core.ets.naming import MAX_ID
from domogate.core.ets.reading import candidates
from domogate.core.ets.results import Candidate, ImportPlan, PlannedBinding, Skipped
from domogate.core.kinds import KINDS
from domogate.core.project import Project
from domogate.core.values import dpt_main


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
