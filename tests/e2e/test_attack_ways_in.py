"""Attacks on the ways in, mounted against a real `domogate server` process.

The server listens on 127.0.0.1; attackers and owners come from other loopback addresses
(127.0.0.2, 127.0.0.3, …: the whole of 127/8 is loopback), so that the server sees them as
distinct sources, and 127.0.0.1 is "the server's own machine".
"""

from __future__ import annotations

import base64
import concurrent.futures
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from domogate.core import devicekeys
from tests.support.deploy_auth import deploy_headers
from tests.support.processes import (
    ServerProcess,
    deploy_first,
    free_port,
    new_project,
    run,
)

pytestmark = pytest.mark.slow

SERVICE = "service-secret"


def client_from(server: ServerProcess, source: str, timeout: float = 10) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=source, verify=server.ssl_context())
    return httpx.Client(base_url=server.url, transport=transport, timeout=timeout)


@pytest.fixture
def house(tmp_path: Path) -> Iterator[tuple[ServerProcess, Path]]:
    project = new_project(tmp_path)
    run("project", "set", str(project), "system.automatic_authentication", "false")
    sp = ServerProcess(tmp_path / "data", free_port(), tmp_path / "server.log")
    sp.start()
    deploy_first(project, sp)
    yield sp, project
    sp.stop()


def enrol_with_password(c: httpx.Client, username: str, password: str) -> tuple[Any, str]:
    key = devicekeys.generate_private_key()
    r = c.post(
        "/api/auth/password",
        json={
            "username": username,
            "password": password,
            "device": {"name": "owner laptop", "public_key": devicekeys.public_key_of(key)},
        },
    )
    assert r.status_code == 200, r.text
    return key, r.json()["device"]["id"]


def password_with_proof(
    c: httpx.Client, server_id: str, key: Any, device_id: str, username: str, password: str
) -> httpx.Response:
    ch = c.post("/api/auth/challenge", json={"device_id": device_id}).json()["challenge"]
    sig = devicekeys.sign(key, devicekeys.challenge_message(server_id, device_id, ch))
    return c.post(
        "/api/auth/password",
        json={
            "username": username,
            "password": password,
            "device": {"name": "owner laptop", "public_key": devicekeys.public_key_of(key)},
            "proof": {"device_id": device_id, "challenge": ch, "signature": sig},
        },
    )


def test_a_look_alike_spelling_meets_the_same_account_limit(house) -> None:  # type: ignore[no-untyped-def]
    server, _ = house
    spellings = ["alice", "ＡＬＩＣＥ", "ａlice", "al ice"]
    codes = []
    for i in range(14):
        with client_from(server, f"127.0.1.{i + 1}") as c:
            codes.append(
                c.post(
                    "/api/auth/password",
                    json={
                        "username": spellings[i % 4],
                        "password": "guess",
                        "device": {"name": "x", "public_key": _pk()},
                    },
                ).json()["error"]["code"]
            )
    assert codes[:10] == ["invalid_credentials"] * 10
    assert set(codes[10:]) == {"rate_limited"}  # every spelling is alice's one account


def test_forwarded_headers_do_not_change_the_source(house) -> None:  # type: ignore[no-untyped-def]
    """Without trust_proxy_headers (the default) a client cannot pose as other addresses:
    forwarding headers naming a new address each time leave it one source, throttled as
    one (10 OTP attempts, then 1 every 6 s) and recorded under its own address."""
    server, _ = house
    codes = []
    with client_from(server, "127.0.0.1") as c:
        for i in range(12):
            fake = f"198.51.100.{i + 1}"
            r = c.post(
                "/api/auth/otp",
                json={"otp": "nope", "name": "x", "device": {"name": "d", "public_key": _pk()}},
                headers={
                    "X-Forwarded-For": fake,
                    "X-Real-IP": fake,
                    "Forwarded": f"for={fake}",
                    "X-Forwarded-Proto": "https",
                },
            )
            codes.append(r.json()["error"]["code"])
    assert codes[:10] == ["otp_invalid"] * 10, codes
    assert set(codes[10:]) == {"rate_limited"}, codes
    with client_from(server, "127.0.0.1") as c:
        r = c.get("/api/audit.jsonl", headers={"Authorization": f"Bearer {_admin_token(server)}"})
    assert r.status_code == 200, r.text
    redeems = [e for e in map(json.loads, r.text.splitlines()) if e["action"] == "otp.redeem"]
    assert redeems and {e["source"] for e in redeems} == {"127.0.0.1"}, redeems
    assert "198.51.100." not in r.text


def test_the_service_password_has_one_limit_and_no_oracle(house) -> None:  # type: ignore[no-untyped-def]
    server, _ = house
    # No oracle: with a wrong password the answer is the same whatever the body.
    with client_from(server, "127.0.2.1") as c:
        empty = c.post("/api/deploy", json={}, headers=deploy_headers(password="wrong"))
        full = c.post(
            "/api/deploy",
            json={"project": {"name": "x"}},
            headers=deploy_headers(password="wrong"),
        )
        garbage = c.post(
            "/api/deploy", content=b"\x00not json", headers=deploy_headers(password="wrong")
        )
    assert empty.status_code == full.status_code == garbage.status_code == 401
    assert empty.json() == full.json() == garbage.json()
    # Guesses spread over deploys and the maintenance page, from many addresses, share one
    # limit: after 10 failures (3 above, 7 here) the next is refused wherever it is tried,
    # even with the right password.
    outcomes = []
    for i in range(7):
        with client_from(server, f"127.0.3.{i + 1}") as c:
            if i % 2:
                r = c.post("/api/maintenance/session", json={"password": f"guess {i}"})
            else:
                r = c.post("/api/deploy", json={}, headers=deploy_headers(password=f"guess {i}"))
            outcomes.append(r.status_code)
    assert outcomes == [401] * 7
    with client_from(server, "127.0.4.1") as c:
        right = c.post("/api/maintenance/session", json={"password": SERVICE})
        assert right.status_code == 429, right.text  # the limit holds for the right one too
        right = c.post("/api/deploy", json={}, headers=deploy_headers(password=SERVICE))
        assert right.status_code == 429
    # The server's own machine is not locked by remote failures.
    with client_from(server, "127.0.0.1") as c:
        r = c.post("/api/maintenance/session", json={"password": SERVICE})
        assert r.status_code == 200, r.text


def test_an_unauthenticated_deploy_body_is_never_read(house) -> None:  # type: ignore[no-untyped-def]
    """8 MiB bodies from strangers are answered before they are read: the server stays
    responsive, and a body cannot change the answer."""
    server, _ = house
    big = b'{"project": {"name": "' + b"x" * (8 * 1024 * 1024 - 64) + b'"}}'

    def flood(i: int) -> int:
        with client_from(server, f"127.0.5.{i + 1}", timeout=30) as c:
            try:
                return c.post(
                    "/api/deploy",
                    content=big,
                    headers={**deploy_headers(password="x"), "content-type": "application/json"},
                ).status_code
            except httpx.HTTPError:
                return 0  # the server may close before taking the whole body: fine

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(flood, i) for i in range(8)]
        worst = 0.0
        with client_from(server, "127.0.6.1") as c:
            while not all(f.done() for f in futures):
                t0 = time.perf_counter()
                assert c.get("/api/info").status_code == 200
                worst = max(worst, time.perf_counter() - t0)
        statuses = [f.result() for f in futures]
    assert all(s in (401, 429, 0) for s in statuses), statuses
    assert worst < 0.25, worst  # no 0.3–0.5 s stall per body any more
    # Unread, observably: a request head announcing a body that never comes is answered at
    # once (the server does not wait for a body it would not use).
    for path, headers in (
        ("/api/clients", ""),
        ("/api/deploy", f"Authorization: {deploy_headers(password='x')['Authorization']}\r\n"),
    ):
        status, took = _head_without_body(server, path, headers, length=60_000)
        assert status == 401, (path, status)
        assert took < 2.0, (path, took)
    with client_from(server, "127.0.6.2") as c:
        r = c.post("/api/clients", content=b"{" * 60_000, headers={"content-type": "x"})
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
        r = c.post("/api/auth/otp", content=b" " * 5000, headers={"content-type": "x"})
        assert r.status_code == 413  # the ways in take small bodies only
        assert r.headers.get("strict-transport-security") == "max-age=31536000"


@pytest.mark.timeout(240)
def test_a_stranger_cannot_lock_the_owner_out(house) -> None:  # type: ignore[no-untyped-def]
    """Two minutes of a slow, steady attack on alice's account and on the service password
    from another address; the owner (automatic authentication off, so a password sign-in
    is the only way in) gets in every time with her enrolled device, and the maintenance
    page opens from the server's own machine every time."""
    server, _ = house
    with client_from(server, "127.0.7.1") as owner:
        server_id = owner.get("/api/info").json()["server_id"]
        key, device_id = enrol_with_password(owner, "alice", "alice-password")
    attacker = client_from(server, "127.0.8.1")
    owner = client_from(server, "127.0.7.1")
    local = client_from(server, "127.0.0.1")
    attacks: dict[int, int] = {}
    owner_results: list[int] = []
    local_results: list[int] = []
    copied_key_results: list[str] = []
    try:
        deadline = time.monotonic() + 120
        next_owner = time.monotonic()
        while time.monotonic() < deadline:
            # ~2 wrong passwords a second: far above what keeps the account refusing.
            for r in (
                attacker.post(
                    "/api/auth/password",
                    json={
                        "username": "alice",
                        "password": "guess",
                        "device": {"name": "x", "public_key": _pk()},
                    },
                ),
                attacker.post("/api/maintenance/session", json={"password": "guess"}),
            ):
                attacks[r.status_code] = attacks.get(r.status_code, 0) + 1
            # An attacker who copied the owner's public key proves nothing with it.
            if len(copied_key_results) < 3:
                r = attacker.post(
                    "/api/auth/password",
                    json={
                        "username": "alice",
                        "password": "guess",
                        "device": {
                            "name": "x",
                            "public_key": devicekeys.public_key_of(key),
                        },
                        "proof": {"device_id": device_id, "challenge": "c", "signature": "AA"},
                    },
                )
                copied_key_results.append(r.json()["error"]["code"])
            if time.monotonic() >= next_owner:
                next_owner += 10
                r = password_with_proof(owner, server_id, key, device_id, "alice", "alice-password")
                owner_results.append(r.status_code)
                assert r.status_code == 200, r.text
                assert r.json()["device"]["id"] == device_id  # the same device, kept
                r = local.post("/api/maintenance/session", json={"password": SERVICE})
                local_results.append(r.status_code)
                assert r.status_code == 200, r.text
            time.sleep(0.5)
    finally:
        attacker.close()
        owner.close()
        local.close()
    assert len(owner_results) >= 12 and set(owner_results) == {200}
    assert set(local_results) == {200}
    assert attacks.get(429, 0) > 100  # the attacker was throttled the whole time
    assert "rate_limited" in copied_key_results or "invalid_credentials" in copied_key_results
    # A wrong password for the owner's proven device is still refused.
    with client_from(server, "127.0.7.1") as c:
        r = password_with_proof(c, server_id, key, device_id, "alice", "not it")
        assert r.status_code == 401


def test_failed_device_sign_ins_are_throttled_and_aggregated(house) -> None:  # type: ignore[no-untyped-def]
    server, project = house
    run("project", "set", str(project), "system.automatic_authentication", "true")
    with client_from(server, "127.0.0.1") as c:
        r = c.post(
            "/api/deploy",
            json={"project": _project_data(project)},
            headers=deploy_headers(password=SERVICE),
        )
        assert r.status_code == 200, r.text
    with client_from(server, "127.0.9.1") as owner:
        key, device_id = enrol_with_password(owner, "alice", "alice-password")
        server_id = owner.get("/api/info").json()["server_id"]
    codes: list[str] = []
    with client_from(server, "127.0.10.1") as attacker:
        for _ in range(100):  # the challenges' own limit: 100 at once
            ch = attacker.post("/api/auth/challenge", json={"device_id": device_id})
            r = attacker.post(
                "/api/auth/device",
                json={
                    "device_id": device_id,
                    "challenge": ch.json()["challenge"],
                    "signature": "AA",
                },
            )
            codes.append(r.json()["error"]["code"])
        # The owner's valid signature from the attacker's very address still gets in (once
        # that address may have a challenge again: 20 a second).
        deadline = time.monotonic() + 5
        while (
            r := attacker.post("/api/auth/challenge", json={"device_id": device_id})
        ).status_code == 429:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        ch = r.json()
        sig = devicekeys.sign(
            key, devicekeys.challenge_message(server_id, device_id, ch["challenge"])
        )
        r = attacker.post(
            "/api/auth/device",
            json={"device_id": device_id, "challenge": ch["challenge"], "signature": sig},
        )
        assert r.status_code == 200, r.text
        token = r.json()["session"]["token"]
        events = attacker.get(
            "/api/audit", params={"limit": 1000}, headers={"Authorization": f"Bearer {token}"}
        ).json()["events"]
    assert codes.count("signature_invalid") == 20
    assert codes.count("rate_limited") == 80
    failures = [e for e in events if e["action"] == "sign_in.device" and e["outcome"] != "ok"]
    # 100 failures, not 100 rows: the first of each kind, the rest counted when the minute
    # closes.
    assert len(failures) <= 2, failures


def _head_without_body(
    server: ServerProcess, path: str, extra_headers: str, length: int
) -> tuple[int, float]:
    """Send only a request head announcing ``length`` bytes of body; the status line of the
    answer and how long it took (a server waiting for the body would not answer)."""
    raw = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    with server.ssl_context().wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        t0 = time.monotonic()
        tls.sendall(
            (
                f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\n{extra_headers}\r\n"
            ).encode()
        )
        tls.settimeout(5)
        try:
            first = tls.recv(4096)
        except TimeoutError:
            return 0, time.monotonic() - t0
        took = time.monotonic() - t0
    return int(first.split(b" ", 2)[1]), took


def _pk() -> str:
    return devicekeys.public_key_of(devicekeys.generate_private_key())


def _project_data(project: Path) -> dict[str, Any]:
    from domogate.core.project import project_to_data
    from domogate.storage.projectfile import load_project

    return project_to_data(load_project(project))


_ = base64


def _admin_token(server: ServerProcess) -> str:
    with client_from(server, "127.0.0.1") as c:
        r = c.post(
            "/api/auth/password",
            json={
                "username": "alice",
                "password": "alice-password",
                "device": {"name": "admin", "public_key": _pk()},
            },
        )
        assert r.status_code == 200, r.text
        return str(r.json()["session"]["token"])


def test_flooding_addresses_cannot_starve_newcomers(house) -> None:  # type: ignore[no-untyped-def]
    """Eight addresses poll OTP guesses as fast as they are let (before: 17 of 20 newcomer
    attempts refused); newcomers, who have not failed, keep getting in on the reserve. A
    malformed guess costs nobody else anything."""
    server, _ = house
    token = _admin_token(server)
    bearer = {"Authorization": f"Bearer {token}"}
    with client_from(server, "127.0.0.1") as admin:
        otps = []
        for _ in range(12):
            r = admin.post("/api/clients", json={}, headers=bearer)
            assert r.status_code == 200, r.text
            otps.append(r.json()["otp"])
    stop = time.monotonic() + 25
    flood_counts: dict[str, int] = {}

    def flood(i: int) -> None:
        with client_from(server, f"127.0.11.{i + 1}") as c:
            while time.monotonic() < stop:
                r = c.post(
                    "/api/auth/otp",
                    json={
                        "otp": "ACDEFGHJKL",
                        "name": "x",
                        "device": {"name": "d", "public_key": "k"},
                    },
                )
                code = r.json()["error"]["code"]
                flood_counts[code] = flood_counts.get(code, 0) + 1

    refused = 0
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        floods = [pool.submit(flood, i) for i in range(8)]
        time.sleep(3)  # let the flood empty the shared budget first
        for i, otp in enumerate(otps):
            with client_from(server, f"127.0.12.{i + 1}") as c:
                r = c.post(
                    "/api/auth/otp",
                    json={
                        "otp": otp,
                        "name": f"Newcomer {i}",
                        "device": {"name": "d", "public_key": _pk()},
                    },
                )
                if r.status_code == 429:
                    refused += 1
                else:
                    assert r.status_code == 200, r.text
            time.sleep(1.5)
        for f in floods:
            f.result()
    assert flood_counts.get("rate_limited", 0) > 100, flood_counts
    assert refused == 0, (refused, flood_counts)


def test_the_pending_otp_cap_holds_on_a_real_server(house) -> None:  # type: ignore[no-untyped-def]
    server, _ = house
    bearer = {"Authorization": f"Bearer {_admin_token(server)}"}
    with client_from(server, "127.0.0.1") as admin:
        for i in range(100):
            r = admin.post("/api/clients", json={}, headers=bearer)
            assert r.status_code == 200, (i, r.text)
        r = admin.post("/api/clients", json={}, headers=bearer)
        assert r.status_code == 409 and "already pending" in r.json()["error"]["message"]


def test_a_redeploy_keeps_the_admin_flags_the_server_decided(house) -> None:  # type: ignore[no-untyped-def]
    """`server admin grant|revoke` on the running server, then a redeploy of the same
    project: the grants stand, and the deploy names the users whose flag differs."""
    server, project = house
    run(
        "project", "user", "add", str(project), "bob", "--group", "family",
        "--password-stdin", stdin="bob-password\n",
    )  # fmt: skip
    deployed = run(
        "deploy", str(project), "--server", server.url, "--password-stdin",
        "--fingerprint", server.fingerprint, stdin=SERVICE + "\n",
    )  # fmt: skip
    assert "bob" in deployed.stdout
    run("server", "admin", "grant", "bob", "--data", str(server.data))
    run("server", "admin", "revoke", "alice", "--data", str(server.data))
    again = run(
        "deploy", str(project), "--server", server.url, "--password-stdin",
        "--fingerprint", server.fingerprint, "--json", stdin=SERVICE + "\n",
    )  # fmt: skip
    import json

    assert sorted(json.loads(again.stdout)["admin_differs"]) == ["alice", "bob"]
    text = run(
        "deploy", str(project), "--server", server.url, "--password-stdin",
        "--fingerprint", server.fingerprint, stdin=SERVICE + "\n",
    ).stdout  # fmt: skip
    assert "admin flag was kept" in text and "alice" in text
    with client_from(server, "127.0.0.1") as c:
        r = c.post(
            "/api/auth/password",
            json={
                "username": "bob",
                "password": "bob-password",
                "device": {"name": "b", "public_key": _pk()},
            },
        )
        assert r.status_code == 200 and r.json()["user"]["admin"] is True


def test_the_cli_signs_in_again_with_its_key_and_never_reuses_a_revoked_one(
    house, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """`connect --username` into a folder already enrolled as that user keeps its device
    (with a proof of its key); once that device is revoked, it enrols a fresh key."""
    import json

    server, _ = house
    cfg = tmp_path / "alice-cli"
    args = (
        "connect", server.url, "--username", "alice", "--password-stdin",
        "--fingerprint", server.fingerprint, "--config", str(cfg),
    )  # fmt: skip
    run(*args, stdin="alice-password\n")
    first = json.loads((cfg / "config.json").read_text())["device"]["id"]
    run(*args, stdin="alice-password\n")
    assert json.loads((cfg / "config.json").read_text())["device"]["id"] == first
    bearer = {"Authorization": f"Bearer {_admin_token(server)}"}
    with client_from(server, "127.0.0.1") as c:
        clients = c.get("/api/clients", headers=bearer).json()["clients"]
        alice = next(x for x in clients if x["label"] == "alice")
        assert c.delete(f"/api/clients/{alice['id']}/devices/{first}", headers=bearer).is_success
    run(*args, stdin="alice-password\n")
    assert json.loads((cfg / "config.json").read_text())["device"]["id"] != first
