"""The comment-keeping YAML editor: inserting keys at their place in the model's order,
appending list items, and moving the comment lines that head the next section along."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import CommentMark
from ruamel.yaml.tokens import CommentToken

from domogate.core.names import same_name
from domogate.core.project import (
    ITEM_KEYS,
    Project,
    project_to_data,
)
from domogate.errors import InvalidInput
from domogate.storage.projectfile.document import PROJECT_FILE, ProjectDocument, to_node


def root_map(document: ProjectDocument) -> CommentedMap:
    if not isinstance(document.data, CommentedMap):
        document.validate()  # raises a ProjectInvalid naming the problem
        raise InvalidInput(f"{document.path}: the top level is not a mapping")
    return document.data


Slot = tuple[Any, Any, int]
Moves = list[tuple[Slot, Any]]


def insert_key(
    node: CommentedMap, key: str, value: Any, order: Iterable[str], moves: Moves | None = None
) -> None:
    """Add ``key`` to ``node`` at its place in the model's key order.

    When the key goes last, the comment lines that followed the previous last value (the
    comment heading the next section) must follow the new one: that move is done at once,
    or recorded in ``moves`` when ``value`` is still being filled.
    """
    if key in node:  # present with an empty value (`users:`)
        node[key] = value
        return
    order = list(order)
    rank = order.index(key) if key in order else len(order)
    for pos, existing in enumerate(node):
        if existing in order and order.index(existing) > rank:
            node.insert(pos, key, value)
            return
    slot = _trailing_slot(node)
    node[key] = value
    if slot is not None:
        if moves is None:
            _carry_comment(slot, node)
        else:
            moves.append((slot, node))


def settle_moves(moves: Moves) -> None:
    for slot, node in moves:
        _carry_comment(slot, node)


def child_map(
    node: CommentedMap, key: str, order: Iterable[str], where: str, moves: Moves | None = None
) -> CommentedMap:
    child = node.get(key)
    if child is None:
        child = CommentedMap()
        insert_key(node, key, child, order, moves)
    elif not isinstance(child, CommentedMap):
        raise InvalidInput(
            f"cannot edit {where}: it is not a mapping in {PROJECT_FILE}; fix it by hand"
        )
    return child


def item_list(root: CommentedMap, list_key: str) -> CommentedSeq:
    """The list ``groups``/``users``/... of the document, created (with defaults) if absent."""
    seq = root.get(list_key)
    if seq is None:
        default = project_to_data(Project(name="default"))[list_key]
        seq = to_node(default)
        insert_key(root, list_key, seq, Project.model_fields)
    elif not isinstance(seq, CommentedSeq):
        raise InvalidInput(
            f"cannot edit {list_key}: it is not a list in {PROJECT_FILE}; fix it by hand"
        )
    result: CommentedSeq = seq
    result.fa.set_block_style()
    return result


def _trailing_slot(node: Any) -> Slot | None:
    """Where ruamel keeps the comment lines that follow the last value of ``node``."""
    if isinstance(node, CommentedMap) and len(node):
        key: Any = list(node)[-1]
        position = 2
    elif isinstance(node, CommentedSeq) and len(node):
        key, position = len(node) - 1, 0
    else:
        return None
    deeper = _trailing_slot(node[key])
    if deeper is not None:
        return deeper
    entry = node.ca.items.get(key)
    if entry and len(entry) > position and entry[position] is not None:
        return (node, key, position)
    return None


def _deepest_last(node: Any) -> Slot | None:
    if isinstance(node, CommentedMap) and len(node):
        key: Any = list(node)[-1]
        position = 2
    elif isinstance(node, CommentedSeq) and len(node):
        key, position = len(node) - 1, 0
    else:
        return None
    return _deepest_last(node[key]) or (node, key, position)


def _carry_comment(slot: Slot, node: Any) -> None:
    """Move the comment lines held at ``slot`` (all but its end-of-line comment) after the
    last value of ``node``.

    ruamel attaches the comment block heading the next section (``# Users``) to the last
    value of the previous one; without this move, what is appended to a section would land
    after that comment.
    """
    target = _deepest_last(node)
    if target is None or target[:2] == slot[:2]:
        return
    container, key, position = slot
    token = container.ca.items[key][position]
    value = str(getattr(token, "value", ""))
    newline = value.find("\n")
    if newline == -1 or not value[newline + 1 :]:
        return
    keep, move = value[: newline + 1], value[newline + 1 :]
    if keep.strip():
        token.value = keep
    else:
        container.ca.items[key][position] = None
    target_container, target_key, target_position = target
    entry: list[Any] = [None, None, None, None]
    entry[target_position] = CommentToken("\n" + move, CommentMark(0))
    target_container.ca.items[target_key] = entry


def append_item(root: CommentedMap, list_key: str, item: CommentedMap) -> None:
    """Append ``item`` after the list's last item and before the comment that follows it."""
    seq = item_list(root, list_key)
    slot = _trailing_slot(seq)
    if not len(seq):
        # An empty `users: []  # comment` keeps its comment lines on the key.
        entry = root.ca.items.get(list_key)
        if entry and len(entry) > 2 and entry[2] is not None:
            slot = (root, list_key, 2)
    seq.append(item)
    if slot is not None:
        _carry_comment(slot, seq)


def _same_name(list_key: str, a: Any, b: str) -> bool:
    if not isinstance(a, str):
        return False
    if list_key == "users":
        return same_name(a, b)
    return a == b


def find_item(seq: CommentedSeq, list_key: str, name: str) -> int | None:
    id_key = ITEM_KEYS[list_key]
    for index, item in enumerate(seq):
        if isinstance(item, dict) and _same_name(list_key, item.get(id_key), name):
            return index
    return None


def item_names(seq: CommentedSeq, list_key: str) -> list[str]:
    id_key = ITEM_KEYS[list_key]
    return [str(item.get(id_key)) for item in seq if isinstance(item, dict)]
