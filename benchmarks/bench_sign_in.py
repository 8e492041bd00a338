"""Device sign-in (challenge + signature check + session) throughput, server side.

DESIGN §8 target: over 2,000 sign-ins per second on 2 cores. The baseline, measured in the
same run, is the bare cryptographic floor: one ECDSA P-256 signature verification with
`cryptography`. The ratio says how much our use case (challenge bookkeeping, SQLite
lookups of device and user, last-seen update, audit event, session) costs on top.

    python benchmarks/bench_sign_in.py [--n 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from domogate.core import devicekeys
from domogate.security.passwords import Argon2Parameters
from domogate.services.clock import SystemClock
from domogate.assembly import build_services
from domogate.services.context import RequestContext
from domogate.settings import ServerSettings, ThrottleSettings
from domogate.core.throttle import BucketSpec
from domogate.storage.sql import open_store
from benchmarks.support import SETUP_CODE, FixedSetupCodes, RecordingBus
from benchmarks.support import project_data


def baseline_verifications_per_second(n: int) -> float:
    key = devicekeys.generate_private_key()
    public = devicekeys.public_key_of(key)
    message = b"domogate-sign-in\nsrv\ndev\nchallenge"
    sig = devicekeys.sign(key, message)
    t0 = time.perf_counter()
    for _ in range(n):
        assert devicekeys.verify(public, message, sig)
    return n / (time.perf_counter() - t0)


async def sign_ins_per_second(n: int, folder: Path) -> float:
    store = await open_store(f"sqlite+aiosqlite:///{folder / 'bench.db'}")
    # One benchmark client comes from one address: lift the per-source challenge throttle
    # (a DoS guard, 1,000 then 500/s) so that it measures the sign-in path, not the guard.
    settings = ServerSettings(
        data_dir=folder,
        argon2=Argon2Parameters.cheap_for_tests(),
        throttle=ThrottleSettings(challenge_per_source=BucketSpec(1e9, 1e9)),
    )
    services = build_services(
        settings=settings,
        store=store,
        clock=SystemClock(),
        server_id="bench",
        otp_key=b"k" * 32,
        seal_key=b"s" * 32,
        fingerprint=None,
        setup_codes=FixedSetupCodes(),
        bus=RecordingBus(),
    )
    try:
        await services.start()
        ctx = RequestContext("127.0.0.1")
        await services.deploy.deploy(ctx, project_data(), setup_code=SETUP_CODE)
        admin = await services.auth.authenticate(
            (
                await services.auth.login_password(
                    ctx,
                    "alice",
                    "correct horse battery staple",
                    "bench",
                    devicekeys.public_key_of(devicekeys.generate_private_key()),
                )
            ).token,
            ctx,
        )
        issued = await services.clients.add_client(admin, base_url="https://h:1")
        key = devicekeys.generate_private_key()
        auth = await services.auth.redeem_otp(
            ctx, issued.otp, "bench", "d", devicekeys.public_key_of(key)
        )
        device_id = auth.device.id
        # Challenges and signatures are the client's work: prepare them untimed.
        prepared = []
        for _ in range(n):
            ch = await services.auth.challenge(ctx, device_id)
            msg = devicekeys.challenge_message("bench", device_id, ch.challenge)
            prepared.append((ch.challenge, devicekeys.sign(key, msg)))
        t0 = time.perf_counter()
        for challenge, sig in prepared:
            await services.auth.challenge(ctx, device_id)  # the server's part of step 1
            await services.auth.sign_in_device(ctx, device_id, challenge, sig)
        return n / (time.perf_counter() - t0)
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000)
    args = parser.parse_args()
    base = baseline_verifications_per_second(args.n)
    with tempfile.TemporaryDirectory() as tmp:
        ours = asyncio.run(sign_ins_per_second(args.n, Path(tmp)))
    print(f"baseline: bare ECDSA P-256 verify   {base:8.0f} /s")
    print(f"domogate: device sign-in (service)  {ours:8.0f} /s")
    print(f"ratio ours/baseline: {ours / base:.3f}   (target: over 2,000 sign-ins/s)")


if __name__ == "__main__":
    main()
