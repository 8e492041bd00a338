"""Publishing through a real ``domogate cloud serve``: the versions API over its TLS port
(httpx with the cloud's pinned certificate) and the version messages of control links
written from docs/cloud-publish.md (``tests/support/cloudproc.open_link``)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from websockets.asyncio.client import ClientConnection

from domogate.core import cloudwire
from domogate.core.publishing import check_version, key_fingerprint
from tests.support.cloudproc import CloudProcess, LinkAttempt, open_link
from tests.support.processes import free_port
from tests.support.published import Signed, b64url_decode, signed_version

STOPPED = (0, -15)
PASSWORD = "family-secret-9"
PUBLISHER = Ed25519PrivateKey.generate()
PUBLISHER_TEXT = cloudwire.public_key_text(PUBLISHER.public_key())


def start_cloud(folder: Path) -> CloudProcess:
    process = CloudProcess(folder / "data", free_port(), folder / "cloud.log")
    process.start()
    return process


def stop_cloud(process: CloudProcess) -> None:
    assert process.stop() in STOPPED, process.log()
    assert "Traceback" not in process.log()
    assert PASSWORD not in process.log()


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudProcess]:
    process = start_cloud(tmp_path_factory.mktemp("cloud"))
    yield process
    stop_cloud(process)


@pytest.fixture
async def http(cloud: CloudProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"https://127.0.0.1:{cloud.port}", verify=cloud.ssl_context(), timeout=30
    ) as client:
        yield client


async def claimed(cloud: CloudProcess, **kwargs: Any) -> tuple[Ed25519PrivateKey, LinkAttempt]:
    """A new installation claimed with PASSWORD, its control link open."""
    key = Ed25519PrivateKey.generate()
    link = await open_link(cloud, key, cloudwire.cloud_name(key.public_key()), PASSWORD, **kwargs)
    assert link.answer["type"] == "welcome", link.answer
    return key, link


async def next_message(ws: ClientConnection, timeout: float = 10) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        data: dict[str, Any] = json.loads(await ws.recv())
    return data


def route(name: str) -> str:
    return f"/api/installations/{name}/versions"


async def publish(http: httpx.AsyncClient, name: str, signed: Signed) -> httpx.Response:
    return await http.post(route(name), json=signed.body(), auth=(name, PASSWORD))


async def test_a_publish_reaches_the_linked_server_which_fetches_and_reports(
    cloud: CloudProcess, http: httpx.AsyncClient
) -> None:
    key, link = await claimed(cloud)
    name = link.answer["name"]
    v1 = signed_version(name, 1, PUBLISHER)
    started = time.monotonic()
    answer = await publish(http, name, v1)
    assert answer.status_code == 200, answer.text
    digest = json.loads(v1.manifest)["digest"]
    assert answer.json() == {
        "installation": name, "version": 1, "digest": digest, "size": len(v1.content)
    }  # fmt: skip
    told = await next_message(link.ws)
    told_after = time.monotonic() - started
    published_at = "2027-01-10T09:00:00Z"
    assert told == {
        "type": "version_available", "version": 1, "digest": digest, "published_at": published_at
    }  # fmt: skip

    await link.ws.send(json.dumps({"type": "get_version", "version": 1}))
    got = await next_message(link.ws)
    assert got["type"] == "version" and got["version"] == 1
    manifest, signature, content = (b64url_decode(got[k]) for k in ("manifest", "signature",
                                                                     "content"))  # fmt: skip
    assert (manifest, signature, content) == (v1.manifest, v1.signature, v1.content)
    check_version(manifest=manifest, signature=signature, content=content,
                  pinned_key=PUBLISHER_TEXT, installation=name, published_version=0)  # fmt: skip

    await link.ws.send(json.dumps({"type": "get_version", "version": 9}))
    assert await next_message(link.ws) == {"type": "version", "version": 9, "error": "not_found"}
    await link.ws.send("not json")  # ignored, the link stays up
    await link.ws.send(json.dumps({"type": "version_result", "version": 1, "applied": "no"}))
    result = {"type": "version_result", "version": 1, "applied": False,
              "code": "project_invalid", "message": "objects.x: bad"}  # fmt: skip
    await link.ws.send(json.dumps(result))

    async def report() -> Any:
        listed = await http.get(route(name), auth=(name, PASSWORD))
        assert listed.status_code == 200, listed.text
        return listed.json()["versions"][0]["report"]

    deadline = time.monotonic() + 10
    while (await report()) is None:
        assert time.monotonic() < deadline, "the report never reached the list"
        await asyncio.sleep(0.02)
    listed = (await http.get(route(name), auth=(name, PASSWORD))).json()
    (row,) = listed["versions"]
    assert listed["installation"] == name
    assert row["report"]["applied"] is False and row["report"]["code"] == "project_invalid"
    assert row["report"]["message"] == "objects.x: bad" and row["report"]["at"].endswith("Z")
    assert row["publisher_key_fingerprint"] == key_fingerprint(PUBLISHER.public_key())
    assert row["size"] == len(v1.content) and row["digest"] == answer.json()["digest"]
    await link.ws.close()

    # a new link hears of the latest version right after its welcome
    again = await open_link(cloud, key, name, None)
    assert again.answer["type"] == "welcome"
    assert (await next_message(again.ws))["version"] == 1
    await again.ws.close()
    print(f"\npublish → version_available on the link: {told_after * 1000:.1f} ms")


async def test_a_link_gets_only_its_own_installations_versions(
    cloud: CloudProcess, http: httpx.AsyncClient
) -> None:
    _, owner = await claimed(cloud)
    _, other = await claimed(cloud)
    name = owner.answer["name"]
    assert (await publish(http, name, signed_version(name, 1, PUBLISHER))).status_code == 200
    assert (await next_message(owner.ws))["type"] == "version_available"
    await other.ws.send(json.dumps({"type": "get_version", "version": 1}))
    assert await next_message(other.ws) == {"type": "version", "version": 1, "error": "not_found"}
    # another installation's report does not land on this one's version
    await other.ws.send(json.dumps({"type": "version_result", "version": 1, "applied": True,
                                    "code": None, "message": None}))  # fmt: skip
    await owner.ws.send(json.dumps({"type": "get_version", "version": 2}))  # a round trip
    assert (await next_message(owner.ws))["error"] == "not_found"
    listed = (await http.get(route(name), auth=(name, PASSWORD))).json()
    assert listed["versions"][0]["report"] is None
    await owner.ws.close()
    await other.ws.close()


async def test_refusals_of_the_api(cloud: CloudProcess, http: httpx.AsyncClient) -> None:
    _, link = await claimed(cloud)
    name = link.answer["name"]
    await link.ws.close()
    other = cloudwire.cloud_name(Ed25519PrivateKey.generate().public_key())
    v2 = signed_version(name, 2, PUBLISHER)
    assert (await publish(http, name, v2)).status_code == 200
    cases = [
        (signed_version(name, 2, PUBLISHER), 409, "version_not_newer"),
        (signed_version(name, 1, PUBLISHER), 409, "version_not_newer"),
        (signed_version(other, 3, PUBLISHER), 409, "version_wrong_installation"),
        (Signed(b'{"format":2}', v2.signature, v2.content), 422, "version_invalid"),
    ]
    for signed, status, code in cases:
        refused = await publish(http, name, signed)
        assert (refused.status_code, refused.json()["error"]["code"]) == (status, code)
    modified = signed_version(name, 3, PUBLISHER)
    tampered = Signed(modified.manifest, modified.signature, modified.content + b" ")
    refused = await publish(http, name, tampered)
    assert (refused.status_code, refused.json()["error"]["code"]) == (
        422,
        "version_digest_mismatch",
    )
    bad = await http.post(route(name), json={"manifest": "!!", "signature": "", "content": ""},
                          auth=(name, PASSWORD))  # fmt: skip
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_input"
    listed = (await http.get(route(name), auth=(name, PASSWORD))).json()
    assert [v["version"] for v in listed["versions"]] == [2]


async def test_wrong_unknown_and_missing_credentials_look_the_same(
    cloud: CloudProcess, http: httpx.AsyncClient
) -> None:
    _, link = await claimed(cloud)
    name = link.answer["name"]
    await link.ws.close()
    unknown = cloudwire.cloud_name(Ed25519PrivateKey.generate().public_key())
    answers = [
        await http.get(route(name), auth=(name, "guess-1")),
        await http.get(route(unknown), auth=(unknown, PASSWORD)),
        await http.post(route(unknown), json=signed_version(unknown, 1, PUBLISHER).body(),
                        auth=(unknown, PASSWORD)),
    ]  # fmt: skip
    for answer in answers:
        assert answer.status_code == 401
        assert answer.json() == answers[0].json()
        assert answer.json()["error"]["code"] == "cloud_password_invalid"
        assert answer.headers["www-authenticate"].startswith("Basic ")
    missing = await http.get(route(name))
    assert (
        missing.status_code == 401 and missing.json()["error"]["code"] == "cloud_password_invalid"
    )


def raw_request(cloud: CloudProcess, head: bytes) -> bytes:
    """Send ``head`` alone over TLS; the answer's first bytes."""
    raw = socket.create_connection(("127.0.0.1", cloud.port), timeout=10)
    with cloud.ssl_context().wrap_socket(raw) as tls:
        tls.sendall(head)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = tls.recv(4096)
            if not chunk:
                break
            answer += chunk
        return answer


def test_a_body_above_96_mib_is_refused_before_it_is_sent(cloud: CloudProcess) -> None:
    head = (b"POST /api/installations/home1/versions HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n")  # fmt: skip
    started = time.monotonic()
    answer = raw_request(cloud, head % (96 * 1024 * 1024 + 1))
    assert answer.startswith(b"HTTP/1.1 413 "), answer
    assert time.monotonic() - started < 5
    # the 96 MiB are for this route only: the operator's route keeps its 4 KiB
    with httpx.Client(base_url=f"https://127.0.0.1:{cloud.port}", verify=cloud.ssl_context()) as c:
        big = c.post("/api/operator/release", content=b"x" * 5000,
                     headers={"Authorization": "Bearer " + "x" * 43})  # fmt: skip
    assert big.status_code in (401, 413)


async def test_wrong_passwords_are_throttled_with_retry_after(tmp_path: Path) -> None:
    process = start_cloud(tmp_path)
    try:
        _, link = await claimed(process)
        name = link.answer["name"]
        await link.ws.close()
        async with httpx.AsyncClient(
            base_url=f"https://127.0.0.1:{process.port}", verify=process.ssl_context()
        ) as http:
            codes = [(await http.get(route(name), auth=(name, f"guess-{i}"))).status_code
                     for i in range(5)]  # fmt: skip
            assert codes == [401] * 5
            throttled = await http.get(route(name), auth=(name, PASSWORD))  # even the right one
            assert throttled.status_code == 429
            body = throttled.json()["error"]
            assert body["code"] == "rate_limited" and body["details"]["retry_after"] >= 1
            assert int(throttled.headers["retry-after"]) == body["details"]["retry_after"]
    finally:
        stop_cloud(process)


async def test_a_20_mib_version_does_not_hold_up_other_links(
    cloud: CloudProcess, http: httpx.AsyncClient
) -> None:
    _, big = await claimed(cloud, max_size=None)
    _, small = await claimed(cloud)
    name = big.answer["name"]
    content = b'{"blob":"' + b"a" * (20 * 1024 * 1024) + b'"}'
    started = time.monotonic()
    posted = await publish(http, name, signed_version(name, 1, PUBLISHER, content=content))
    upload_s = time.monotonic() - started
    assert posted.status_code == 200, posted.text
    assert (await next_message(big.ws))["type"] == "version_available"

    async def small_round_trips() -> list[float]:
        times = []
        for n in range(20):
            sent = time.monotonic()
            await small.ws.send(json.dumps({"type": "get_version", "version": 100 + n}))
            assert (await next_message(small.ws))["error"] == "not_found"
            times.append(time.monotonic() - sent)
        return times

    started = time.monotonic()
    await big.ws.send(json.dumps({"type": "get_version", "version": 1}))
    fetch = asyncio.ensure_future(next_message(big.ws, timeout=30))
    trips = await small_round_trips()
    got = await fetch
    fetch_s = time.monotonic() - started
    assert b64url_decode(got["content"]) == content
    worst = max(trips)
    print(f"\n20 MiB: upload {upload_s * 1000:.0f} ms, fetch over the link {fetch_s * 1000:.0f} ms,"
          f" other link's round trips meanwhile: worst {worst * 1000:.1f} ms,"
          f" median {sorted(trips)[10] * 1000:.1f} ms")  # fmt: skip
    assert worst < 1.0, trips  # measured ~130 ms: uvicorn frames and encrypts it in one go
    await big.ws.close()
    await small.ws.close()
