"""Fixtures for tests against a real knxd (only inside a private network namespace)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from tests.support.knxd_peer import KnxdClient, KnxdPeer, require_private_netns


@pytest.fixture
def knxd() -> Iterator[KnxdPeer]:
    """A fresh knxd for each test (tunnelling server on 127.0.0.1:3671)."""
    require_private_netns()
    peer = KnxdPeer()
    peer.start()
    try:
        yield peer
    finally:
        peer.close()


@pytest.fixture
async def knx_monitor(knxd: KnxdPeer) -> AsyncIterator[KnxdClient]:
    """A group socket on that knxd: sees every telegram and can inject some."""
    async with KnxdClient(knxd.socket_path) as client:
        yield client
