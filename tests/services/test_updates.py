"""Automatic server update as a use case (``services/updates.py``): versions told by the
link, fetched, checked against the pinned publisher key and applied in the deploy's
transaction; hostile versions refused, audited, reported, the running project untouched.
The link is an in-memory stand-in (the real link against a real cloud: tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from domogate.core.publishing import canonical_content, make_manifest, sign_manifest
from domogate.errors import NotFound
from domogate.services.context import RequestContext
from domogate.services.events import Event, ProjectChanged, UpdateChanged
from domogate.services.ports import PublishedVersion
from tests.support.memorylink import MemoryLink
from tests.support.publishing import WHEN, key_text, published
from tests.support.services_env import Env, make_env, project_data

CLOUD = {"enabled": True, "address": "127.0.0.1:7443", "password": "cloud-pw"}
INTEGRATOR = Ed25519PrivateKey.generate()


@pytest.fixture
def link() -> MemoryLink:
    return MemoryLink()


async def _env(tmp_path: Path, link: MemoryLink, automatic: bool) -> Env:
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD, automatic_server_update=automatic)
    await env.store.set_meta("publisher_key", key_text(INTEGRATOR))  # the local deploy's pin
    return env


@pytest.fixture
async def auto(tmp_path: Path, link: MemoryLink) -> AsyncIterator[Env]:
    env = await _env(tmp_path, link, automatic=True)
    yield env
    await env.services.close()


def _next(name: str, automatic: bool = True) -> dict[str, Any]:
    data = project_data(cloud=CLOUD, automatic_server_update=automatic)
    data["name"] = name
    return data


async def _tell(env: Env, link: MemoryLink, version: int) -> None:
    link.tell(version)
    await env.services.updates.settled()


async def _audit(env: Env, action: str) -> list[Any]:
    await env.services.audit.flush()
    return [e for e in await env.store.list_audit() if e.action == action]


async def test_automatic_update_applies_a_good_version(auto: Env, link: MemoryLink) -> None:
    events: list[Event] = []
    auto.services.events.subscribe(events.append)
    link.held[1] = published(_next("Version two"), 1, INTEGRATOR, link.name)
    await _tell(auto, link, 1)

    assert link.fetched == [1]
    assert auto.services.project.version == 2
    assert auto.services.project.current is not None
    assert auto.services.project.current.project.name == "Version two"
    assert await auto.store.get_meta("published_version") == "1"
    current = await auto.store.current_project()
    assert current is not None and current.version == 2 and current.deployed_by == "cloud"
    assert ProjectChanged(2) in events  # every client is told (the live `project`)
    [report] = link.reports
    assert report.version == 1 and report.applied and report.code is None
    [deploy, *_] = await _audit(auto, "deploy")
    assert deploy.outcome == "ok" and deploy.source == "cloud"
    assert deploy.details["published_version"] == 1
    assert auto.services.updates.status.available is None

    # told again (a new link's version_available): nothing to do
    await _tell(auto, link, 1)
    assert link.fetched == [1] and auto.services.project.version == 2


OTHER_KEY = Ed25519PrivateKey.generate()


def _signed_by_another_key(name: str, data: dict[str, Any]) -> Any:
    return published(data, 1, OTHER_KEY, name)


def _modified_content(name: str, data: dict[str, Any]) -> Any:
    evil = dict(data, name="Pushed by the cloud")
    return published(data, 1, INTEGRATOR, name, content=canonical_content(evil))


def _for_another_installation(name: str, data: dict[str, Any]) -> Any:
    return published(data, 1, INTEGRATOR, "zyxwvutsrqponmlk")


def _invalid_project(name: str, data: dict[str, Any]) -> Any:
    return published(dict(data, groups=[{"name": "family"}]), 1, INTEGRATOR, name)


def _not_json(name: str, data: dict[str, Any]) -> Any:
    content = b"\xff not json"
    manifest = make_manifest(name, 1, content, WHEN, INTEGRATOR.public_key()).to_bytes()
    return PublishedVersion(1, manifest, sign_manifest(manifest, INTEGRATOR), content)


@pytest.mark.parametrize(
    ("spoil", "code"),
    [
        (_signed_by_another_key, "signature_invalid"),
        (_modified_content, "version_digest_mismatch"),
        (_for_another_installation, "version_wrong_installation"),
        (_invalid_project, "project_invalid"),
        (_not_json, "project_invalid"),
    ],
)
async def test_a_hostile_version_is_refused_and_the_project_untouched(
    auto: Env, link: MemoryLink, spoil: Any, code: str
) -> None:
    before = await auto.store.current_project()
    updates: list[UpdateChanged] = []
    auto.services.events.subscribe(
        lambda e: updates.append(e) if isinstance(e, UpdateChanged) else None
    )
    link.held[1] = spoil(link.name, _next("Version two"))
    await _tell(auto, link, 1)

    assert await auto.store.current_project() == before
    assert auto.services.project.version == 1
    assert auto.services.project.current is not None
    assert auto.services.project.current.project.name == "Test house"
    assert await auto.store.get_meta("published_version") is None
    [report] = link.reports
    assert (report.version, report.applied, report.code) == (1, False, code)
    [refused] = await _audit(auto, "update.refused")
    assert refused.outcome == code and refused.details == {"version": 1}
    assert refused.source == "cloud"
    refusal = auto.services.updates.status.refused
    assert refusal is not None and (refusal.version, refusal.code) == (1, code)
    assert updates and updates[-1].status.refused == refusal


async def test_a_replayed_older_version_is_refused(auto: Env, link: MemoryLink) -> None:
    link.held[1] = published(_next("Version two"), 1, INTEGRATOR, link.name)
    await _tell(auto, link, 1)
    assert auto.services.project.version == 2
    link.held[2] = link.held[1]  # the cloud answers "2" with the old, genuinely signed 1
    await _tell(auto, link, 2)
    assert auto.services.project.version == 2
    assert await auto.store.get_meta("published_version") == "1"
    assert [(r.version, r.code) for r in link.reports] == [(1, None), (2, "version_not_newer")]
    [refused] = await _audit(auto, "update.refused")
    assert refused.outcome == "version_not_newer"


async def test_without_a_pinned_key_nothing_is_fetched(tmp_path: Path, link: MemoryLink) -> None:
    env = await make_env(tmp_path, cloud_link=link, cloud=CLOUD, automatic_server_update=True)
    try:
        link.held[1] = published(_next("Version two"), 1, INTEGRATOR, link.name)
        await _tell(env, link, 1)
        assert link.fetched == []
        assert [r.code for r in link.reports] == ["publisher_key_missing"]
        assert env.services.project.version == 1
    finally:
        await env.services.close()


async def test_a_newer_notice_during_an_apply_is_handled_after_it(
    auto: Env, link: MemoryLink
) -> None:
    link.held[1] = published(_next("Version two"), 1, INTEGRATOR, link.name)
    link.held[3] = published(_next("Version four"), 3, INTEGRATOR, link.name)
    link.gate = asyncio.Event()
    link.tell(1)
    while link.fetched != [1]:
        await asyncio.sleep(0)
    link.tell(2)
    link.tell(3)  # only the newest waiting notice matters
    link.gate.set()
    await auto.services.updates.settled()
    assert link.fetched == [1, 3]
    assert await auto.store.get_meta("published_version") == "3"
    assert auto.services.project.version == 3


async def test_automatic_update_off_waits_for_the_maintenance_page(
    tmp_path: Path, link: MemoryLink
) -> None:
    env = await _env(tmp_path, link, automatic=False)
    try:
        updates: list[UpdateChanged] = []
        env.services.events.subscribe(
            lambda e: updates.append(e) if isinstance(e, UpdateChanged) else None
        )
        with pytest.raises(NotFound):
            await env.services.updates.apply_available(RequestContext("10.0.0.9"))
        link.held[1] = published(_next("Version two", automatic=False), 1, INTEGRATOR, link.name)
        await _tell(env, link, 1)
        assert link.fetched == [] and env.services.project.version == 1
        status = env.services.updates.status
        assert status.available == 1 and status.published_at == "2026-01-01T00:00:00Z"
        assert [u.status.available for u in updates] == [1]

        result = await env.services.updates.apply_available(RequestContext("10.0.0.9"))
        assert result.version == 2 and env.services.project.version == 2
        assert await env.store.get_meta("published_version") == "1"
        assert env.services.updates.status.available is None
        assert [u.status.available for u in updates] == [1, None]
        [requested] = await _audit(env, "update.apply")
        assert requested.source == "10.0.0.9" and requested.details == {"version": 1}
        [deploy, *_] = await _audit(env, "deploy")
        assert deploy.source == "cloud" and deploy.outcome == "ok"
    finally:
        await env.services.close()


async def test_another_version_than_the_one_asked_for_is_refused(
    auto: Env, link: MemoryLink
) -> None:
    link.held[3] = published(_next("Version two"), 2, INTEGRATOR, link.name)  # signed as 2
    await _tell(auto, link, 3)
    assert auto.services.project.version == 1
    assert [(r.version, r.code) for r in link.reports] == [(3, "version_invalid")]


async def test_a_local_deploy_supersedes_what_was_published_before_it(
    auto: Env, link: MemoryLink
) -> None:
    """A version published, never applied (the house was away), then a local deploy fixes
    the house: the cloud may not bring the older version back afterwards."""
    from tests.support.published import signed_version
    from tests.support.services_env import SERVICE_PASSWORD

    earlier = auto.services.clock.now()
    signed = signed_version(link.name, 1, INTEGRATOR, project=_next("Stale"), when=earlier)
    auto.clock.advance(60)  # type: ignore[attr-defined]
    await auto.services.deploy.deploy(
        RequestContext("integrator"), _next("Fixed locally"), password=SERVICE_PASSWORD
    )
    link.held[1] = PublishedVersion(1, signed.manifest, signed.signature, signed.content)
    await _tell(auto, link, 1)
    assert auto.services.project.current is not None
    assert auto.services.project.current.project.name == "Fixed locally"
    [report] = link.reports
    assert not report.applied and report.code == "version_not_newer", report


async def test_a_local_deploy_during_the_apply_wins_over_the_version(
    auto: Env, link: MemoryLink
) -> None:
    """The pin and the floor are checked again under the deploy lock: a local deploy that
    holds the lock (here: rotating the publisher key) when the checked version comes to
    be applied makes it refused."""
    link.held[1] = published(_next("From the cloud"), 1, INTEGRATOR, link.name)
    lock = auto.services.deploy._lock
    async with lock:  # a local deploy under way
        link.tell(1)
        while not getattr(lock, "_waiters", None):  # checked, now waiting for the lock
            await asyncio.sleep(0.001)
        await auto.store.set_meta("publisher_key", key_text(Ed25519PrivateKey.generate()))
    await auto.services.updates.settled()
    assert auto.services.project.version == 1  # the version was not applied
    [report] = link.reports
    assert not report.applied and report.code == "signature_invalid", report
