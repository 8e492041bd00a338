"""The ``Authorization`` header of ``POST /api/deploy`` for tests that call it directly."""

from __future__ import annotations

from domogate.client.api import deploy_authorization


def deploy_headers(*, password: str | None = None, setup_code: str | None = None) -> dict[str, str]:
    return {"Authorization": deploy_authorization(setup_code, password)}
