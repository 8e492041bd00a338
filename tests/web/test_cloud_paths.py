"""The session path, as the web server learns it: a socket handed in through
``accept_relayed`` (what the cloud link does after checking an attach line) is ``cloud``
with the client's real address; everything else is ``local``, whatever it sends."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.client import connect

from domogate.core import devicekeys
from domogate.core.cloudwire import attach_line
from domogate.services.context import RequestContext
from tests.support.guarded import Guarded, http_over, start_guarded
from tests.support.services_env import ADMIN_PASSWORD, make_env

CLIENT = ("203.0.113.7", 40123)


@pytest.fixture
async def web(tmp_path: Path) -> AsyncIterator[Guarded]:
    env = await make_env(tmp_path)
    guarded = await start_guarded(env, tmp_path)
    yield guarded
    await guarded.stop()
    await env.services.close()


def _device() -> dict[str, str]:
    return {
        "name": "phone",
        "public_key": devicekeys.public_key_of(devicekeys.generate_private_key()),
    }


def _login_body(username: str = "alice", password: str = ADMIN_PASSWORD) -> dict[str, Any]:
    return {"username": username, "password": password, "device": _device()}


async def _relayed(web: Guarded, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    sock = web.relayed_pair(*CLIENT)
    return await http_over(sock, web.client_context(), method, path, **kw)


async def _local(web: Guarded, method: str, path: str, **kw: Any) -> tuple[int, Any]:
    return await http_over(None, web.client_context(), method, path, port=web.port, **kw)


def _bearer(body: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {body['session']['token']}"}


async def _local_only_otp(web: Guarded) -> str:
    admin = await web.env.admin()
    issued = await web.env.clients.add_client(
        admin, base_url=web.url, name="carol", paths=["local"]
    )
    return issued.otp


async def test_relayed_connection_is_cloud_with_the_clients_address(web: Guarded) -> None:
    status, auth = await _relayed(web, "POST", "/api/auth/password", body=_login_body())
    assert status == 200, auth
    assert auth["path"] == "cloud"
    status, me = await _relayed(web, "GET", "/api/me", headers=_bearer(auth))
    assert status == 200, me
    assert me["path"] == "cloud"
    status, audit = await _relayed(web, "GET", "/api/audit", headers=_bearer(auth))
    assert status == 200
    logins = [
        e for e in audit["events"] if e["action"].startswith("login") and e["outcome"] == "ok"
    ]
    assert logins[0]["source"] == CLIENT[0]
    assert logins[0]["path"] == "cloud"


async def test_local_connection_is_local(web: Guarded) -> None:
    status, auth = await _local(web, "POST", "/api/auth/password", body=_login_body())
    assert status == 200, auth
    assert auth["path"] == "local"


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Domogate-Path": "cloud"},
        {"X-Forwarded-For": "198.51.100.9", "X-Forwarded-Proto": "https"},
        {"Forwarded": "for=198.51.100.9;proto=https"},
    ],
)
async def test_headers_never_set_the_path_or_the_address(
    web: Guarded, headers: dict[str, str]
) -> None:
    status, auth = await _local(
        web, "POST", "/api/auth/password", body=_login_body(), headers=headers
    )
    assert status == 200, auth
    assert auth["path"] == "local"
    status, audit = await _local(web, "GET", "/api/audit", headers=_bearer(auth))
    login = next(e for e in audit["events"] if e["action"].startswith("login"))
    assert login["source"] == "127.0.0.1"
    # and through the relay, the client's address from the attach line stands
    status, auth = await _relayed(
        web, "POST", "/api/auth/password", body=_login_body(), headers=headers
    )
    assert auth["path"] == "cloud"
    status, audit = await _relayed(web, "GET", "/api/audit", headers=_bearer(auth))
    login = next(
        e for e in audit["events"] if e["action"].startswith("login") and e["path"] == "cloud"
    )
    assert login["source"] == CLIENT[0]


async def test_an_attach_line_sent_to_the_servers_own_port_is_refused(web: Guarded) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", web.port)
    writer.write(attach_line("00" * 16, "198.51.100.9", 1234, b"k" * 32))
    writer.write(b"GET /api/me HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(10):
        try:
            answer = await reader.read()
        except ConnectionResetError:
            answer = b""
    writer.close()
    assert b"HTTP/1.1" not in answer  # no TLS handshake, no request: closed


async def test_a_local_only_user_is_refused_through_the_relay(web: Guarded) -> None:
    otp = await _local_only_otp(web)
    body = {"otp": otp, "name": "carol", "device": _device()}
    status, answer = await _relayed(web, "POST", "/api/auth/otp", body=body)
    assert status == 403
    assert answer["error"]["code"] == "path_not_allowed"
    status, answer = await _local(web, "POST", "/api/auth/otp", body=body)
    assert status == 200, answer  # the refusal did not burn the OTP


async def test_a_session_opened_locally_is_refused_on_the_cloud_path(web: Guarded) -> None:
    otp = await _local_only_otp(web)
    body = {"otp": otp, "name": "carol", "device": _device()}
    status, auth = await _local(web, "POST", "/api/auth/otp", body=body)
    assert status == 200, auth
    status, answer = await _relayed(web, "GET", "/api/me", headers=_bearer(auth))
    assert status == 403
    assert answer["error"]["code"] == "path_not_allowed"
    status, _ = await _local(web, "GET", "/api/me", headers=_bearer(auth))
    assert status == 200  # still open on its own path


async def test_a_session_keeps_its_path_even_for_a_user_allowed_both(web: Guarded) -> None:
    status, auth = await _relayed(web, "POST", "/api/auth/password", body=_login_body())
    status, answer = await _local(web, "GET", "/api/me", headers=_bearer(auth))
    assert status == 403
    assert answer["error"]["code"] == "path_not_allowed"


async def _ws(web: Guarded, token: str) -> tuple[Any, dict[str, Any]]:
    sock = web.relayed_pair(*CLIENT)
    ws = await connect(
        "wss://localhost/api/ws",
        sock=sock,
        ssl=web.client_context(),
        server_hostname="localhost",
        proxy=None,
    )
    await ws.send(json.dumps({"type": "auth", "token": token}))
    return ws, json.loads(await asyncio.wait_for(ws.recv(), 5))


async def test_live_channel_through_the_relay_takes_the_path_from_the_connection(
    web: Guarded,
) -> None:
    _, cloud_auth = await _relayed(web, "POST", "/api/auth/password", body=_login_body())
    ws, hello = await _ws(web, cloud_auth["session"]["token"])
    assert hello["type"] == "hello"
    kinds = set()
    async with asyncio.timeout(5):
        while "cloud" not in kinds:  # admins are told the cloud link's state
            message = json.loads(await ws.recv())
            kinds.add(message["type"])
            if message["type"] == "cloud":
                assert message["status"] == "disabled"
    clients = await web.env.clients.snapshot()
    alice = next(c for c in clients if c.name == "alice")
    assert any(d.online and d.path is not None and d.path.value == "cloud" for d in alice.devices)
    await ws.close()

    otp = await _local_only_otp(web)
    body = {"otp": otp, "name": "carol", "device": _device()}
    _, local_auth = await _local(web, "POST", "/api/auth/otp", body=body)
    ws, answer = await _ws(web, local_auth["session"]["token"])
    assert answer["type"] == "error"
    assert answer["error"]["code"] == "path_not_allowed"
    with pytest.raises(websockets.ConnectionClosed):
        await asyncio.wait_for(ws.recv(), 5)


async def test_the_certificate_on_a_relayed_socket_is_the_servers(web: Guarded) -> None:
    sock = web.relayed_pair(*CLIENT)
    _, writer = await asyncio.open_connection(
        sock=sock, ssl=web.client_context(), server_hostname="localhost"
    )
    ssl_object: ssl.SSLObject = writer.get_extra_info("ssl_object")
    import hashlib

    der = ssl_object.getpeercert(binary_form=True)
    assert der is not None
    assert hashlib.sha256(der).hexdigest() == web.data.fingerprint
    writer.close()


async def test_a_service_password_check_through_the_relay_is_not_local(web: Guarded) -> None:
    guard = web.env.services.deploy._guard  # the rule under test
    assert guard.is_local(RequestContext("127.0.0.1"))
    from domogate.core.accounts import ConnectionPath

    assert not guard.is_local(RequestContext("127.0.0.1", ConnectionPath.CLOUD))
