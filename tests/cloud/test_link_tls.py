"""The control link's TLS pinning: a cloud whose certificate is not the pinned one gets
no byte of HTTP (so neither the hello nor the password), and the link reports why."""

from __future__ import annotations

import asyncio
import logging
import ssl
from datetime import UTC, datetime
from pathlib import Path

import pytest

from domogate.cloud.link import LinkClient
from domogate.security.tls import fingerprint_of_pem, generate_self_signed
from domogate.services.ports import CloudLinkState, CloudTarget
from domogate.storage.datadir import DataDir
from tests.support.cloudproc import CloudProcess
from tests.support.processes import free_port


async def _tls_server(tmp_path: Path) -> tuple[asyncio.Server, str, list[bytes]]:
    cert, key = generate_self_signed(["127.0.0.1"], now=datetime.now(UTC))
    (tmp_path / "c.pem").write_bytes(cert)
    (tmp_path / "k.pem").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    received: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            received.append(await reader.read(65536))
        except (ssl.SSLError, ConnectionError):
            received.append(b"")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0, ssl=context)
    return server, fingerprint_of_pem(cert), received


async def test_a_certificate_that_is_not_the_pinned_one_gets_nothing(tmp_path: Path) -> None:
    server, real_fingerprint, received = await _tls_server(tmp_path)
    port = server.sockets[0].getsockname()[1]
    data = DataDir(tmp_path / "data")
    data.initialise()
    states: list[CloudLinkState] = []
    link = LinkClient(data, backoff_base_s=5)
    wrong = "00" * 32
    link.start(CloudTarget(f"127.0.0.1:{port}", wrong, "secret-password"), states.append)
    try:
        async with asyncio.timeout(10):
            while not any(s.status == "error" for s in states):
                await asyncio.sleep(0.01)
    finally:
        await link.stop()
        server.close()
        await server.wait_closed()
    error = next(s for s in states if s.status == "error")
    assert error.code == "cloud_fingerprint_mismatch"
    assert real_fingerprint in (error.message or "")
    assert all(r == b"" for r in received)  # not a byte after the handshake
    assert not data.cloud_claim_path.exists()


async def test_debug_logging_shows_no_password_or_pool_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """websockets logs each frame's text at DEBUG: the control link's own logger never
    does, so a process that turns DEBUG on everywhere logs no password (the end of the
    hello) and no pool key (the end of the welcome)."""
    caplog.set_level(logging.DEBUG)  # every logger, websockets' included
    cloud = CloudProcess(tmp_path / "cloud", free_port(), tmp_path / "cloud.log")
    cloud.start()
    data = DataDir(tmp_path / "data")
    data.initialise()
    states: list[CloudLinkState] = []
    link = LinkClient(data)
    password = "debug-logs-never-see-this-9f2c"
    try:
        link.start(
            CloudTarget(f"127.0.0.1:{cloud.port}", cloud.ready["fingerprint"], password),
            states.append,
        )
        async with asyncio.timeout(20):
            while not any(s.status == "linked" for s in states):
                await asyncio.sleep(0.02)
    finally:
        await link.stop()
        cloud.stop()
    assert "> TEXT" not in caplog.text and "< TEXT" not in caplog.text  # no frame logged
    assert password[-12:] not in caplog.text
