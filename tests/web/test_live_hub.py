"""web/live/hub.py: the periodic re-check closes, by itself, the sockets of a revoked device
or of an account that has expired.

Revoking a device normally closes its sessions and its sockets at once (an event). The
re-check must not rely on that: here the device is revoked in the store only, its
session stays open, and the re-check still closes the socket with 4403 ``revoked``.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

import websockets

from tests.support.live import Live, next_of, redeem, ws_open


async def test_recheck_closes_a_socket_whose_device_is_revoked(live: Live) -> None:
    bob, alice = await live.login("bob", "bob-password"), await live.login()
    ws_bob, ws_alice = await ws_open(live, bob), await ws_open(live, alice)
    try:
        await next_of(ws_bob, "states")
        services = live.env.services
        device_id = bob["device"]["id"]
        # Behind the services' back: no DevicesRevoked event, the session stays open.
        await live.env.store.revoke_devices([device_id], services.clock.now())
        await live.hub.recheck()
        deadline = time.monotonic() + 5
        seen = []
        try:
            while time.monotonic() < deadline:
                seen.append(
                    json.loads(await asyncio.wait_for(ws_bob.recv(), deadline - time.monotonic()))
                )
        except websockets.ConnectionClosed:
            pass
        assert ws_bob.close_code == 4403, (ws_bob.close_code, seen)
        assert seen[-1]["type"] == "error" and seen[-1]["error"]["code"] == "revoked", seen
        # Alice's device is not revoked: her socket stays open and answers.
        await ws_alice.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws_alice, "pong"))["type"] == "pong"
    finally:
        await ws_bob.close()
        await ws_alice.close()


async def test_a_socket_of_an_account_that_expires_is_closed(live: Live) -> None:
    """An account's expiry ends its live connections too (4403 ``account_expired``)."""
    services = live.env.services
    admin = await live.env.admin()
    issued = await services.clients.add_client(
        admin,
        base_url="http://h:1",
        account_expires_at=services.clock.now() + timedelta(minutes=5),
    )
    guest = await redeem(live, issued.otp, "Guest")
    bob = await live.login("bob", "bob-password")
    ws_guest, ws_bob = await ws_open(live, guest), await ws_open(live, bob)
    try:
        await next_of(ws_guest, "states")
        live.env.clock.advance(5 * 60)  # sessions (15 minutes) stay open; the account ends
        deadline = time.monotonic() + 2  # the periodic re-check runs every 0.5 s
        seen = []
        try:
            while time.monotonic() < deadline:
                seen.append(
                    json.loads(await asyncio.wait_for(ws_guest.recv(), deadline - time.monotonic()))
                )
        except (websockets.ConnectionClosed, TimeoutError):
            pass
        assert ws_guest.close_code == 4403, (ws_guest.close_code, seen)
        assert seen[-1]["type"] == "error", seen
        assert seen[-1]["error"]["code"] == "account_expired", seen
        await ws_bob.send(json.dumps({"type": "ping"}))
        assert (await next_of(ws_bob, "pong"))["type"] == "pong"
    finally:
        await ws_guest.close()
        await ws_bob.close()
