"""The deployed project as the services see it (cached; reloaded after a deploy)."""

from __future__ import annotations

from dataclasses import dataclass

from domogate.core.project import Project, SystemOptions, validate_project_data
from domogate.services.ports import AccountStore


@dataclass(frozen=True)
class DeployedProject:
    version: int
    project: Project


class ProjectState:
    def __init__(self) -> None:
        self.current: DeployedProject | None = None

    async def load(self, store: AccountStore) -> None:
        stored = await store.current_project()
        if stored is None:
            self.current = None
        else:
            project = validate_project_data(stored.data, file=f"deployed version {stored.version}")
            self.current = DeployedProject(stored.version, project)

    @property
    def version(self) -> int | None:
        return self.current.version if self.current else None

    @property
    def project(self) -> Project | None:
        return self.current.project if self.current else None

    @property
    def system(self) -> SystemOptions:
        return self.current.project.system if self.current else SystemOptions()

    def group_names(self) -> list[str]:
        return self.current.project.group_names() if self.current else []
