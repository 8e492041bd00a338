"""The project model: :class:`Project`, its format and its lists of named items."""

from __future__ import annotations

import types
from collections.abc import Mapping

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from domogate.core.fields import Label
from domogate.core.keypaths import format_path
from domogate.core.names import name_key
from domogate.core.references import reference_problems
from domogate.core.sections import (
    Group,
    Model,
    Page,
    ProjectObject,
    ProjectUser,
    ServerAddresses,
    SystemOptions,
)

FORMAT = 1
"""The only project file format this version reads and writes."""


ITEM_KEYS: Mapping[str, str] = types.MappingProxyType(
    {"groups": "name", "users": "name", "pages": "id", "objects": "id"}
)
"""Lists of named items in a project, and the key that names their items."""

DEFER_REFERENCES = "domogate_defer_references"


def _default_groups() -> list[Group]:
    return [Group(name="users")]


class Project(Model):
    model_config = ConfigDict(extra="forbid", frozen=True)

    format: int = Field(default=FORMAT, strict=True)
    name: Label
    server: ServerAddresses = Field(default_factory=ServerAddresses)
    system: SystemOptions = Field(default_factory=SystemOptions)
    groups: list[Group] = Field(default_factory=_default_groups, min_length=1)
    users: list[ProjectUser] = Field(default_factory=list)
    pages: list[Page] = Field(default_factory=list)
    objects: list[ProjectObject] = Field(default_factory=list)

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: int) -> int:
        if value != FORMAT:
            raise PydanticCustomError(
                "format",
                "unsupported project format {value}; this version of domogate reads format {known}",
                {"value": value, "known": FORMAT},
            )
        return value

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Project:
        if info.context and info.context.get(DEFER_REFERENCES):
            return self  # validate_project_data reports them one by one, with their paths
        problems = reference_problems(self)
        if problems:
            loc, message = problems[0]
            more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
            raise ValueError(f"{format_path(loc)}: {message}{more}")
        return self

    def group_names(self) -> list[str]:
        return [g.name for g in self.groups]

    def default_group(self) -> str:
        """The group new users get when none is given: the first one."""
        return self.groups[0].name

    def user(self, name: str) -> ProjectUser | None:
        """The user with this name (one name whatever its case, spacing or compatibility
        form: :func:`domogate.core.names.name_key`), or None."""
        wanted = name_key(name)
        return next((u for u in self.users if name_key(u.name) == wanted), None)

    def page(self, page_id: str) -> Page | None:
        return next((p for p in self.pages if p.id == page_id), None)

    def object(self, object_id: str) -> ProjectObject | None:
        return next((o for o in self.objects if o.id == object_id), None)
