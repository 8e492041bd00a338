"""Argon2 work off the event loop, in a bounded pool.

A storm of password logins queues here instead of starving the loop: other clients'
messages keep flowing (DESIGN §8).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from domogate.services.ports import PasswordHasher


class PasswordWorker:
    def __init__(self, passwords: PasswordHasher, workers: int = 2) -> None:
        self.passwords = passwords
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="argon2")

    async def verify(self, password_hash: str | None, password: str) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._pool, self.passwords.verify, password_hash, password
        )

    async def hash(self, password: str) -> str:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, self.passwords.hash, password)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
