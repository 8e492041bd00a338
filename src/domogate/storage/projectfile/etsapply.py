"""Applying an ETS import plan to a project file (objects and pages, merged)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.scalarstring import DoubleQuotedScalarString

from domogate.core.ets import Candidate, ImportPlan, PlannedBinding
from domogate.core.project import (
    Project,
    ProjectObject,
)
from domogate.errors import Conflict, InvalidInput
from domogate.storage.projectfile.document import (
    ProjectDocument,
    load_document,
    project_file,
    to_node,
    write_text_atomic,
)
from domogate.storage.projectfile.tree import (
    Moves,
    append_item,
    child_map,
    find_item,
    insert_key,
    item_list,
    root_map,
    settle_moves,
)

# --- ETS import ------------------------------------------------------------------------


def _binding_node(binding: PlannedBinding) -> CommentedMap:
    """``{address: 1/2/3, dpt: "9.001"}`` on one line, the datapoint type quoted."""
    node = CommentedMap()
    node["address"] = binding.address
    node["dpt"] = DoubleQuotedScalarString(binding.dpt)
    node.fa.set_flow_style()
    return node


def _object_node(candidate: Candidate) -> CommentedMap:
    node = CommentedMap()
    node["id"] = candidate.id
    node["name"] = candidate.name
    node["type"] = candidate.type
    node["page"] = candidate.page.id
    bindings = CommentedMap()
    for binding in candidate.bindings:
        bindings[binding.key] = _binding_node(binding)
    node["bindings"] = bindings
    return node


@dataclass
class ImportTarget:
    """A project loaded (and validated) for an import: its document, its content as
    validated, and the bytes read, to notice a change made while the export is parsed."""

    document: ProjectDocument
    project: Project
    original: bytes


def begin_import(directory: Path) -> ImportTarget:
    """Load and validate ``DIR/project.yaml`` before an import; an invalid project is
    reported as it is, not merged into."""
    path = project_file(Path(directory))
    try:
        original = path.read_bytes()
    except OSError:
        original = b""  # load_document says what is wrong
    document = load_document(directory)
    root_map(document)
    return ImportTarget(document, document.validate(), original)


def finish_import(target: ImportTarget, plan: ImportPlan) -> tuple[Project, bool]:
    """Apply ``plan`` (pages, objects and bindings to add) to the loaded document, validate
    the result and write it atomically. Nothing else is touched. When the plan adds nothing
    the file is not written at all. Returns the project and whether the file was written."""
    if not plan.changed:
        return target.project, False
    document = target.document
    root = root_map(document)
    for page in plan.pages:
        append_item(root, "pages", to_node(page.data()))
    objects = item_list(root, "objects") if plan.bindings else None
    for object_id, binding in plan.bindings:
        assert objects is not None
        index = find_item(objects, "objects", object_id)
        item = objects[index] if index is not None else None
        if not isinstance(item, CommentedMap):
            raise InvalidInput(f"cannot edit objects.{object_id}: it is not a mapping")
        moves: Moves = []
        bindings = child_map(
            item, "bindings", ProjectObject.model_fields, f"objects.{object_id}.bindings", moves
        )
        insert_key(bindings, binding.key, _binding_node(binding), [], moves)
        settle_moves(moves)
    for candidate in plan.objects:
        append_item(root, "objects", _object_node(candidate))
    project = document.validate()
    text = document.dump()
    try:
        current = document.path.read_bytes()
    except OSError:
        current = b""
    if current != target.original:
        raise Conflict(
            f"{document.path} changed while the ETS export was being imported; "
            "nothing was written: run the import again"
        )
    write_text_atomic(document.path, text)
    return project, True


def apply_import(
    directory: Path, plan_for: Callable[[Project], ImportPlan]
) -> tuple[Project, ImportPlan, bool]:
    """:func:`begin_import`, ``plan_for(current project)``, :func:`finish_import`."""
    target = begin_import(directory)
    plan = plan_for(target.project)
    project, written = finish_import(target, plan)
    return project, plan, written
