"""Domain edits of a project file: groups, users, passwords, removing items."""

from __future__ import annotations

from pathlib import Path

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from domogate.core.names import name_taken
from domogate.core.project import (
    Project,
    ProjectUser,
)
from domogate.errors import Conflict, InvalidInput
from domogate.storage.projectfile.document import load_document, save_project_document
from domogate.storage.projectfile.keys import Target, looks_like_hash, model_fields
from domogate.storage.projectfile.tree import (
    Moves,
    append_item,
    child_map,
    find_item,
    insert_key,
    item_list,
    item_names,
    root_map,
    settle_moves,
)


def add_group(directory: Path, name: str, description: str = "") -> Project:
    """Append a group; a group with the same name is a conflict."""
    document = load_document(directory)
    root = root_map(document)
    groups = item_list(root, "groups")
    if find_item(groups, "groups", name) is not None:
        raise Conflict(f"group {name!r} already exists")
    item = CommentedMap()
    item["name"] = name
    item["description"] = description
    append_item(root, "groups", item)
    return save_project_document(document)


def remove_item(directory: Path, list_key: str, name: str) -> Project:
    """Remove a group, user, page or object by its name or id. The project is validated
    first: removing something still referred to (a group with users) is refused, with
    the referring keys named, and the file is left unchanged."""
    document = load_document(directory)
    root = root_map(document)
    seq = item_list(root, list_key)
    index = find_item(seq, list_key, name)
    if index is None:
        known = ", ".join(item_names(seq, list_key)) or "(none)"
        raise InvalidInput(f"no {list_key[:-1]} named {name!r} (known: {known})")
    del seq[index]
    return save_project_document(document)


def add_user(
    directory: Path,
    name: str,
    group: str | None = None,
    admin: bool = False,
    password_hash: str | None = None,
) -> Project:
    """Append an initial user; ``group`` defaults to the project's first group."""
    if password_hash is not None and not looks_like_hash(password_hash):
        raise InvalidInput("a user's password must be given as an Argon2id hash")
    document = load_document(directory)
    root = root_map(document)
    current = document.validate()
    chosen = group if group is not None else current.default_group()
    if chosen not in current.group_names():
        raise InvalidInput(
            f"unknown group {chosen!r}; known groups: {', '.join(current.group_names())} "
            "(add one with `domogate project group add`)"
        )
    if current.user(name) is not None:
        raise name_taken(name)
    item = CommentedMap()
    item["name"] = name
    item["group"] = chosen
    item["admin"] = admin
    item["password"] = password_hash
    append_item(root, "users", item)
    return save_project_document(document)


def set_service_password(directory: Path, password_hash: str) -> Project:
    """Store the service password's Argon2id hash in ``system.password``."""
    if not looks_like_hash(password_hash):
        raise InvalidInput("the service password must be given as an Argon2id hash")
    document = load_document(directory)
    root = root_map(document)
    moves: Moves = []
    system = child_map(root, "system", Project.model_fields, "system", moves)
    if "password" in system:
        system["password"] = password_hash
    else:
        insert_key(system, "password", password_hash, model_fields("system"), moves)
    settle_moves(moves)
    return save_project_document(document)


def set_user_password(directory: Path, name: str, password_hash: str | None) -> Project:
    """Store (or clear, with None) the Argon2id hash of an initial user's password."""
    if password_hash is not None and not looks_like_hash(password_hash):
        raise InvalidInput("a user's password must be given as an Argon2id hash")
    document = load_document(directory)
    root = root_map(document)
    users = root.get("users")
    index = find_item(users, "users", name) if isinstance(users, CommentedSeq) else None
    if index is None or not isinstance(users[index], CommentedMap):
        known = item_names(users, "users") if isinstance(users, CommentedSeq) else []
        raise InvalidInput(
            f"unknown user {name!r}; known users: {', '.join(known) if known else '(none)'}"
        )
    target = Target(users[index], "password", None, list(ProjectUser.model_fields), ())
    if target.key in target.node:
        target.node[target.key] = password_hash
    else:
        insert_key(target.node, target.key, password_hash, target.order)
    return save_project_document(document)
