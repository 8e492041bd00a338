"""What a use case knows about who asks and from where."""

from __future__ import annotations

from dataclasses import dataclass

from domogate.core.accounts import ConnectionPath, Device, User
from domogate.errors import Forbidden
from domogate.services.sessions import Session


@dataclass(frozen=True)
class RequestContext:
    source: str  # network address of the caller ("127.0.0.1", "cli", …)
    path: ConnectionPath = ConnectionPath.LOCAL


@dataclass(frozen=True)
class Authenticated:
    """Result of a successful authentication: the session token is shown once."""

    token: str
    session: Session
    user: User
    device: Device


@dataclass(frozen=True)
class Caller:
    """An authenticated request: its session and its user as of now."""

    session: Session
    user: User
    context: RequestContext

    def require_admin(self, to: str) -> None:
        """``Forbidden`` unless the caller is an administrator (``to``: what for)."""
        if not self.user.admin or self.user.revoked_at is not None:
            raise Forbidden(f"Only administrators can {to}.")
