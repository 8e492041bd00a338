"""The project model: what an integrator describes and deploys (pure, no I/O).

A project is system options, server addresses, groups, initial users, pages and objects
with their bus bindings and per-group restrictions. Every model is frozen and forbids
unknown keys. :func:`validate_project_data` turns raw data (e.g. parsed YAML) into a
:class:`Project` or raises :class:`~domogate.errors.ProjectInvalid` whose problems name the
file, the dotted key path (``users[2].group``) and, when a ``lines`` function is given, the
line in the file.

The model lives in ``model`` (``Project``) and ``sections`` (its parts), its field types in
``fields``, the cross-reference checks in ``references``, the validation of raw data with
its problem reports in ``validation``; this module gathers their public names.
"""

from __future__ import annotations

from domogate.core.fields import (
    BindingKey,
    Description,
    Dpt,
    ExternalAddress,
    GroupName,
    Host,
    Icon,
    KnxAddress,
    Label,
    PasswordHash,
    Slug,
    UserName,
)
from domogate.core.keypaths import (
    LinesFunction,
    Loc,
    format_path,
)
from domogate.core.model import (
    FORMAT,
    ITEM_KEYS,
    Project,
)
from domogate.core.references import (
    reference_problems,
)
from domogate.core.sections import (
    Binding,
    CloudOptions,
    ConnectionPolicy,
    Group,
    ObjectType,
    Page,
    ProjectObject,
    ProjectUser,
    Restrictions,
    ServerAddresses,
    SystemOptions,
)
from domogate.core.validation import (
    model_at,
    project_to_data,
    validate_project_data,
)

__all__ = [
    "FORMAT",
    "ITEM_KEYS",
    "Binding",
    "BindingKey",
    "CloudOptions",
    "ConnectionPolicy",
    "Description",
    "Dpt",
    "ExternalAddress",
    "Group",
    "GroupName",
    "Host",
    "Icon",
    "KnxAddress",
    "Label",
    "LinesFunction",
    "Loc",
    "ObjectType",
    "Page",
    "PasswordHash",
    "Project",
    "ProjectObject",
    "ProjectUser",
    "Restrictions",
    "ServerAddresses",
    "Slug",
    "SystemOptions",
    "UserName",
    "format_path",
    "model_at",
    "project_to_data",
    "reference_problems",
    "validate_project_data",
]
