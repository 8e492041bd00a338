"""Export policy: the part of a project that a client of a given group receives (pure).

A client receives the system options that drive its behaviour (never a password), the
objects its group may see, the pages holding at least one of them, and for each object
whether the group may operate it. Users, other groups and restriction lists stay on the
server.
"""

from __future__ import annotations

from typing import Any

from domogate.core.objects import resolve
from domogate.core.project import ObjectType, Project, ProjectObject
from domogate.errors import InvalidInput

NOT_OPERABLE_TYPES = frozenset({ObjectType.SENSOR})
"""Object types that only show a state: no group can operate them."""


def can_see(obj: ProjectObject, group: str) -> bool:
    """True when members of ``group`` see ``obj`` (no ``visible_to`` list: every group)."""
    visible = obj.restrictions.visible_to
    return visible is None or group in visible


def can_operate(obj: ProjectObject, group: str) -> bool:
    """True when members of ``group`` may send commands to ``obj``.

    Requires seeing it; ``operable_by`` missing means every group that sees it. Sensors
    accept no command.
    """
    if obj.type in NOT_OPERABLE_TYPES or not can_see(obj, group):
        return False
    operable = obj.restrictions.operable_by
    return operable is None or group in operable


def _object_for_client(obj: ProjectObject, group: str) -> dict[str, Any]:
    operable = can_operate(obj, group)
    return {
        "id": obj.id,
        "name": obj.name,
        "type": obj.type.value,
        "page": obj.page,
        "bindings": {
            key: {"address": binding.address, "dpt": binding.dpt}
            for key, binding in obj.bindings.items()
        },
        "operable": operable,
        "attributes": {
            name: {"dpt": attribute.dpt, "writable": operable and attribute.write is not None}
            for name, attribute in resolve(obj).attributes.items()
        },
    }


def export_for_group(project: Project, group: str, version: int) -> dict[str, Any]:
    """What a client whose user belongs to ``group`` receives for project ``version``."""
    if group not in project.group_names():
        raise InvalidInput(
            f"unknown group {group!r}; known groups: {', '.join(project.group_names())}"
        )
    objects = [obj for obj in project.objects if can_see(obj, group)]
    used_pages = {obj.page for obj in objects}
    system = project.system
    return {
        "version": version,
        "name": project.name,
        "system": {
            "use_otp_authentication": system.use_otp_authentication,
            "automatic_authentication": system.automatic_authentication,
            "automatic_connection": system.automatic_connection,
            "cloud": {
                "enabled": system.cloud.enabled,
                "connection_policy": system.cloud.connection_policy.value,
            },
        },
        "pages": [
            {"id": page.id, "title": page.title, "icon": page.icon}
            for page in project.pages
            if page.id in used_pages
        ],
        "objects": [_object_for_client(obj, group) for obj in objects],
    }
