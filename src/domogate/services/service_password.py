"""The service password and the setup code: one secret, one limit wherever it is checked.

The deployed project's ``system.password`` (an Argon2id hash) authorises deploys and opens
the maintenance page; before any project has one, the setup code printed at the server's
first start authorises the first deploy. Every check, whatever asks for it, is charged to
the same buckets: per source, and in total — with a total of its own for the server's own
machine (``ServerSettings.local_sources``), so that failures from elsewhere never lock out
the person standing at the server. The check comes before anything else of the request
(before its body is read), and every refusal is the same whatever the request carried.
"""

from __future__ import annotations

from domogate.core.accounts import ConnectionPath
from domogate.core.throttle import source_key
from domogate.errors import Conflict, InvalidCredentials, SetupCodeInvalid
from domogate.services.context import RequestContext
from domogate.services.deps import Deps
from domogate.services.ports import SetupCodes
from domogate.services.throttling import KeyedBuckets, take_all

__all__ = ["ServicePasswordGuard", "SetupCodes"]

REMOTE = "remote"
LOCAL = "local"


class ServicePasswordGuard:
    def __init__(self, deps: Deps, setup_codes: SetupCodes) -> None:
        self._d = deps
        t = deps.settings.throttle
        self._local_sources = frozenset(deps.settings.local_sources)
        self.setup_codes = setup_codes
        self._per_source = KeyedBuckets(t.service_per_source)
        self._total = {REMOTE: KeyedBuckets(t.service_global), LOCAL: KeyedBuckets(t.service_local)}

    async def verify(self, service_hash: str, password: str) -> bool:
        """Compare only (no throttling): for re-checking a grant already counted."""
        return await self._d.passwords.verify(service_hash, password)

    def is_local(self, ctx: RequestContext) -> bool:
        # Through the relay a client's address may be the relay's machine's loopback:
        # only a connection to the server's own port is the server's own machine.
        return ctx.path is ConnectionPath.LOCAL and ctx.source in self._local_sources

    async def check(
        self,
        ctx: RequestContext,
        *,
        password: str | None,
        setup_code: str | None = None,
        setup_code_allowed: bool = True,
    ) -> None:
        """Accept the service password (or, while the deployed project has none, the setup
        code) or raise. Throttled before anything is compared."""
        scope = LOCAL if self.is_local(ctx) else REMOTE
        total = self._total[scope]
        now_m = self._d.clock.monotonic()
        # Reserved before the (slow) comparison so that parallel guesses cannot all slip
        # through on the last token; an accepted secret gives it back.
        take_all(now_m, (self._per_source, source_key(ctx.source)), (total, scope))
        current = self._d.project.project
        service_hash = current.system.password if current else None
        if service_hash is None:
            if not setup_code_allowed:
                total.refund(scope, now_m)
                raise Conflict(
                    "This server has no service password yet: set one in the project "
                    "(`domogate project password DIR`) and deploy it."
                )
            if not setup_code or not self.setup_codes.check_setup_code(setup_code):
                raise SetupCodeInvalid(
                    "Wrong or missing setup code (see `domogate server setup-code`)."
                    if current is None
                    else "The deployed project has no service password: use the setup code."
                )
        else:
            if password is None:
                raise InvalidCredentials(
                    "This server already has a project: give its service password."
                )
            if not await self._d.passwords.verify(service_hash, password):
                raise InvalidCredentials("Wrong service password.")
        total.refund(scope, self._d.clock.monotonic())
