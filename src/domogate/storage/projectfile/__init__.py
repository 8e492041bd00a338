"""``project.yaml``: load, validate and edit a project file with ruamel.yaml.

Round-trip editing keeps the comments, key order and quoting a person wrote. Every change
is validated before anything is written, and writes are atomic: a failed or refused change
leaves the file unchanged, byte for byte. Validation problems carry the file, the key path
and the line.

Modules: ``document`` (load, line numbers, atomic write, new files), ``limits`` (hostile
files), ``tree`` (the comment-keeping YAML editor), ``keys`` (dotted keys: ``set_key``,
``get_key``), ``edits`` (groups, users, passwords), ``etsapply`` (ETS import plans).
"""

from __future__ import annotations

from domogate.storage.projectfile.document import (
    HEADER,
    PROJECT_FILE,
    ProjectDocument,
    line_finder,
    load_document,
    load_project,
    new_project_document,
    project_file,
    save_project_document,
    to_plain,
    validate_project_data,
    write_new_project,
)
from domogate.storage.projectfile.edits import (
    add_group,
    add_user,
    remove_item,
    set_service_password,
    set_user_password,
)
from domogate.storage.projectfile.etsapply import (
    ImportTarget,
    apply_import,
    begin_import,
    finish_import,
)
from domogate.storage.projectfile.keys import get_key, set_key
from domogate.storage.projectfile.limits import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_EXPANDED_NODES,
    MAX_FILE_BYTES,
)

__all__ = [
    "HEADER",
    "MAX_ALIASES",
    "MAX_DEPTH",
    "MAX_EXPANDED_NODES",
    "MAX_FILE_BYTES",
    "PROJECT_FILE",
    "ImportTarget",
    "ProjectDocument",
    "add_group",
    "add_user",
    "apply_import",
    "begin_import",
    "finish_import",
    "get_key",
    "line_finder",
    "load_document",
    "load_project",
    "new_project_document",
    "project_file",
    "remove_item",
    "save_project_document",
    "set_key",
    "set_service_password",
    "set_user_password",
    "to_plain",
    "validate_project_data",
    "write_new_project",
]
