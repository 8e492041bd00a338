"""Cross-reference checks of a project: duplicate names, dangling groups and pages, bindings
that do not fit their object's kind, addresses bound with two datapoint types.

They read a project through :class:`ProjectParts`, so that the model (which runs them) and
they need not import each other."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Protocol

from domogate.core.keypaths import Loc
from domogate.core.kinds import KINDS
from domogate.core.names import name_key
from domogate.core.sections import Group, Page, ProjectObject, ProjectUser, SystemOptions
from domogate.core.values import describe_dpt, dpt_main, is_known_dpt


class ProjectParts(Protocol):
    """What the checks read of a :class:`~domogate.core.model.Project`."""

    @property
    def groups(self) -> Sequence[Group]: ...
    @property
    def users(self) -> Sequence[ProjectUser]: ...
    @property
    def pages(self) -> Sequence[Page]: ...
    @property
    def objects(self) -> Sequence[ProjectObject]: ...
    @property
    def system(self) -> SystemOptions: ...
    def group_names(self) -> list[str]: ...


def _known(kind: str, names: Sequence[str]) -> str:
    if not names:
        return f"no {kind} are defined"
    return f"known {kind}: " + ", ".join(names)


def reference_problems(project: ProjectParts) -> list[tuple[Loc, str]]:
    """Problems between parts of a valid-looking project: duplicates and dangling names."""
    problems: list[tuple[Loc, str]] = []
    groups = project.group_names()
    group_set = set(groups)

    seen: dict[str, int] = {}
    for i, group in enumerate(project.groups):
        if group.name in seen:
            problems.append(
                (
                    ("groups", i, "name"),
                    f"duplicate group name {group.name!r} "
                    f"(already used by groups[{seen[group.name]}])",
                )
            )
        else:
            seen[group.name] = i

    seen = {}
    for i, user in enumerate(project.users):
        key = name_key(user.name)
        if key in seen:
            problems.append(
                (
                    ("users", i, "name"),
                    f"duplicate user name {user.name!r} (already used by users[{seen[key]}]; "
                    "user names ignore case, spaces and look-alike characters)",
                )
            )
        else:
            seen[key] = i
        if user.group not in group_set:
            problems.append(
                (("users", i, "group"), f"unknown group {user.group!r}; {_known('groups', groups)}")
            )

    seen = {}
    for i, page in enumerate(project.pages):
        if page.id in seen:
            problems.append(
                (
                    ("pages", i, "id"),
                    f"duplicate page id {page.id!r} (already used by pages[{seen[page.id]}])",
                )
            )
        else:
            seen[page.id] = i
    page_ids = [p.id for p in project.pages]
    page_set = set(page_ids)

    seen = {}
    for i, obj in enumerate(project.objects):
        if obj.id in seen:
            problems.append(
                (
                    ("objects", i, "id"),
                    f"duplicate object id {obj.id!r} (already used by objects[{seen[obj.id]}])",
                )
            )
        else:
            seen[obj.id] = i
        if obj.page not in page_set:
            problems.append(
                (("objects", i, "page"), f"unknown page {obj.page!r}; {_known('pages', page_ids)}")
            )
        for field in ("visible_to", "operable_by"):
            listed: list[str] | None = getattr(obj.restrictions, field)
            for k, name in enumerate(listed or []):
                if name not in group_set:
                    problems.append(
                        (
                            ("objects", i, "restrictions", field, k),
                            f"unknown group {name!r}; {_known('groups', groups)}",
                        )
                    )
    problems.extend(binding_problems(project))
    problems.extend(cloud_problems(project.system))
    return problems


def cloud_problems(system: SystemOptions) -> Iterator[tuple[Loc, str]]:
    """A cloud that is enabled needs its address and the installation's password."""
    cloud = system.cloud
    if not cloud.enabled:
        return
    if cloud.address is None:
        yield (
            ("system", "cloud", "address"),
            "the cloud is enabled but has no address; set system.cloud.address to the "
            "cloud's HOST[:PORT] (see `domogate cloud info`), or disable the cloud",
        )
    if not cloud.password:
        yield (
            ("system", "cloud", "password"),
            "the cloud is enabled but has no password; set system.cloud.password (the "
            "installation's cloud password), or disable the cloud",
        )


def binding_problems(project: ProjectParts) -> Iterator[tuple[Loc, str]]:
    """Bindings that do not fit their object's kind, and addresses bound with two types."""
    first_use: dict[str, tuple[str, str]] = {}  # address -> (dpt, where)
    for i, obj in enumerate(project.objects):
        kind = KINDS[obj.type.value]
        allowed = kind.binding_keys()
        for key, binding in obj.bindings.items():
            loc: Loc = ("objects", i, "bindings", key)
            attribute = next((a for a in kind.attributes if key in (a.write, a.state)), None)
            if attribute is None:
                yield (
                    loc,
                    f"object {obj.id!r}: a {kind.type} has no binding {key!r}; "
                    f"its bindings are: {', '.join(allowed)}",
                )
                continue
            dpt = binding.dpt or attribute.default_dpt
            if dpt is None:
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r} needs its datapoint type "
                    "(e.g. dpt: '9.001' for a temperature), so that values can be decoded",
                )
                continue
            if not is_known_dpt(dpt):
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r}: unknown datapoint type {dpt!r}",
                )
                continue
            if attribute.mains and dpt_main(dpt) not in attribute.mains:
                wanted = " or ".join(f"{m}.x" for m in attribute.mains)
                yield (
                    (*loc, "dpt"),
                    f"object {obj.id!r}: binding {key!r} carries {attribute.meaning}, "
                    f"so its datapoint type must be DPT {wanted} (got {describe_dpt(dpt)})",
                )
                continue
            where = f"objects[{i}].bindings.{key}"
            seen = first_use.setdefault(binding.address, (dpt, where))
            if seen[1] != where and dpt_main(seen[0]) != dpt_main(dpt):
                yield (
                    (*loc, "address"),
                    f"object {obj.id!r}: address {binding.address} is bound as "
                    f"{describe_dpt(dpt)} here but as {describe_dpt(seen[0])} by {seen[1]}",
                )
