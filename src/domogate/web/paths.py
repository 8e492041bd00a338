"""Which path a request or live connection came by (``local`` or ``cloud``), as the web
adapter learns it: from the ASGI scope, which only the guarded protocols write
(``web/connections/protocols.py``), never from a header or anything else a client sends."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domogate.core.accounts import ConnectionPath

PATH_SCOPE_KEY = "domogate.path"
"""Set to ``"cloud"`` on every scope of a connection that came through the relay (its
attach line's MAC checked); absent on a connection to the server's own port."""


def path_of_scope(scope: Mapping[str, Any]) -> ConnectionPath:
    return ConnectionPath.CLOUD if scope.get(PATH_SCOPE_KEY) == "cloud" else ConnectionPath.LOCAL
