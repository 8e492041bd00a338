"""The home server's pool connections (:class:`PoolClient`) against a listening socket that
stands for the relay: ``size`` idle, and one new one for each one attached."""

from __future__ import annotations

import asyncio
import socket

from domogate.cloud.poolclient import PoolClient
from domogate.core import cloudwire

KEY = b"k" * 32


async def _pool_line(reader: asyncio.StreamReader) -> str:
    line = await asyncio.wait_for(reader.readline(), 5)
    magic, name, conn_id, _mac = line.decode().split()
    assert (magic, name) == ("DGPOOL1", "maison")
    return conn_id


async def test_an_attached_pool_connection_is_replaced() -> None:
    arrived: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()

    async def accepted(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        await arrived.put((r, w))

    relay = await asyncio.start_server(accepted, "127.0.0.1", 0)
    port = relay.sockets[0].getsockname()[1]
    streams: list[tuple[socket.socket, str, int]] = []
    pool = PoolClient(
        ("127.0.0.1", port), "maison", KEY, lambda s, h, p: streams.append((s, h, p)), size=2
    )
    pool.start()
    writers: list[asyncio.StreamWriter] = []
    try:
        first = [await asyncio.wait_for(arrived.get(), 5) for _ in range(2)]
        writers += [w for _, w in first]
        reader, writer = first[0]
        conn_id = await _pool_line(reader)
        writer.write(cloudwire.attach_line(conn_id, "198.51.100.4", 50000, KEY))
        await writer.drain()
        replacement = await asyncio.wait_for(arrived.get(), 3)  # one new one for it
        writers.append(replacement[1])
        assert [(h, p) for _, h, p in streams] == [("198.51.100.4", 50000)]
        assert pool.waiting == 2
    finally:
        await pool.close()
        for s, _, _ in streams:
            s.close()
        for w in writers:
            w.close()
        relay.close()
        await relay.wait_closed()
