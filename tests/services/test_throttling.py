"""A brute-force client against OTP redemption, with the real throttle parameters.

The clock is fake: the attacker waits exactly the ``retry_after`` the server answers, for
the whole maximal validity of an OTP (24 h), from many source addresses. The number of
guesses the server evaluates must stay within the bound of docs/security.md, and the
resulting chance of hitting one of 100 pending OTPs under one in a million.
"""

from __future__ import annotations

import contextlib
import random

from domogate.core import devicekeys, otp
from domogate.errors import OtpInvalid, RateLimited
from domogate.services.context import RequestContext
from domogate.services.throttling import OtpBudget
from domogate.settings import ThrottleSettings
from tests.support.services_env import Env

PENDING = 100


async def test_bruteforce_stays_under_the_documented_bound(env: Env) -> None:
    admin = await env.admin()
    for _ in range(PENDING - 1):  # the owner's makes 100, the most a server keeps pending
        await env.clients.add_client(admin, base_url="https://h:1")
    owner_issued = await env.clients.add_client(admin, base_url="https://h:1")
    owner, owner_key = await env.redeem(owner_issued.otp, name="owner", source="192.0.2.200")

    spec = ThrottleSettings()
    # The service-level attack runs over the default validity (2 h) to keep the test
    # short; test_global_bucket_bounds_a_day_of_guessing covers the 24-hour maximum.
    window = env.services.settings.otp_default_validity.total_seconds()
    bound = spec.otp_guesses_within(window)
    assert bound == 60 + 7_200

    rng = random.Random(7)
    evaluated = 0
    refused = 0
    sources = [f"203.0.113.{i}" for i in range(1, 255)]
    start = env.clock.monotonic()
    i = 0
    while env.clock.monotonic() - start < window:
        guess = "".join(rng.choice(otp.ALPHABET) for _ in range(otp.LENGTH))
        try:
            await env.auth.redeem_otp(
                RequestContext(sources[i % len(sources)]), guess, "x", "d", "k"
            )
        except RateLimited as exc:
            refused += 1
            env.clock.advance(min(exc.retry_after, 1.0))
            continue
        except OtpInvalid:
            evaluated += 1
        finally:
            i += 1
        if evaluated % 1000 == 0:
            # The owner's enrolled device keeps signing in while the attack goes on.
            ctx = RequestContext("192.0.2.200")
            ch = await env.auth.challenge(ctx, owner.device.id)
            sig = devicekeys.sign(
                owner_key, devicekeys.challenge_message("srv-test", owner.device.id, ch.challenge)
            )
            await env.auth.sign_in_device(ctx, owner.device.id, ch.challenge, sig)

    assert refused > 0
    assert evaluated <= bound
    assert evaluated >= 0.9 * bound  # the attacker really went as fast as allowed
    probability = PENDING * evaluated / (otp.SPACE_SIZE - evaluated)
    assert probability < 1e-6, probability


async def test_one_source_is_throttled_alone(env: Env) -> None:
    admin = await env.admin()
    issued = await env.clients.add_client(admin, base_url="https://h:1")
    for _ in range(10):
        with contextlib.suppress(OtpInvalid):
            await env.auth.redeem_otp(RequestContext("198.51.100.1"), "ACDEFACDEF", "x", "d", "k")
    try:
        await env.auth.redeem_otp(RequestContext("198.51.100.1"), "ACDEFACDEF", "x", "d", "k")
        raise AssertionError("an eleventh immediate attempt must be throttled")
    except RateLimited as exc:
        assert 1 <= exc.retry_after <= 6
    # another source is not affected
    key = devicekeys.generate_private_key()
    auth = await env.auth.redeem_otp(
        RequestContext("198.51.100.2"), issued.otp, "Dana", "d", devicekeys.public_key_of(key)
    )
    assert auth.user.name == "Dana"


def test_global_bucket_bounds_a_day_of_guessing() -> None:
    """The throttle alone, over the maximal validity, with 1,000 rotating sources."""
    spec = ThrottleSettings()
    budget = OtpBudget(spec.otp_per_source, spec.otp_global, spec.otp_global_reserve)
    window = 24 * 3600.0
    now = 0.0
    admitted = 0
    i = 0
    while now < window:
        try:
            budget.take(f"s{i % 1000}", now, well_formed=True)
            admitted += 1
        except RateLimited as exc:
            now += min(exc.retry_after, 1.0)
        i += 1
    bound = spec.otp_guesses_within(window)
    assert 0.99 * bound <= admitted <= bound
    probability = PENDING * admitted / (otp.SPACE_SIZE - admitted)
    assert probability < 1e-6
    assert round(probability, 9) == round(100 * 86_460 / (otp.SPACE_SIZE - 86_460), 9)
