"""The server's local address as join links, QR codes and ``/api/info``'s ``paths.local``
give it: the rule of ``core/lanaddress.py`` over the settings (``--host``,
``--advertise``, the LAN addresses found at start) and the deployed project's
``server.address``, read at each call (a deploy that changes it counts at once)."""

from __future__ import annotations

from domogate.core.lanaddress import Advertised, choose, link_base, url_of
from domogate.services.project_state import ProjectState
from domogate.settings import ServerSettings


def advertised(settings: ServerSettings, project: ProjectState) -> Advertised:
    """The address join links carry, and why."""
    deployed = project.project
    return choose(
        settings.host,
        advertise=settings.advertise,
        project_address=deployed.server.address if deployed is not None else None,
        lan_candidates=settings.lan_candidates,
    )


def local_url(settings: ServerSettings, project: ProjectState) -> str:
    """``scheme://ADVERTISED:PORT``: the server's local URL for others to dial."""
    return url_of(settings.scheme, advertised(settings, project).host, settings.port)


def join_base(settings: ServerSettings, project: ProjectState, asked_on: str) -> str:
    """The local URL a join link asked on ``asked_on`` (a local request's own URL) carries:
    that one, unless it is loopback or a wildcard and the advertised one is not."""
    return link_base(asked_on, local_url(settings, project))
