"""core/throttle.py: token buckets over an injected time, throttling keys of addresses."""

from __future__ import annotations

from domogate.core.throttle import BucketSpec, TokenBucket, source_key


def test_a_bucket_admits_its_capacity_then_its_rate() -> None:
    spec = BucketSpec(capacity=3, rate=0.5)
    bucket = TokenBucket.full(spec, now=0.0)
    assert [bucket.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert bucket.retry_after(0.0) == 2.0
    assert not bucket.take(1.9)
    assert bucket.take(2.0)
    assert spec.max_attempts(100) == 53


def test_refund_never_exceeds_capacity() -> None:
    bucket = TokenBucket.full(BucketSpec(2, 1), now=0.0)
    bucket.refund(0.0)
    assert bucket.is_full(0.0) and bucket.tokens == 2


def test_ipv6_counts_by_its_64_prefix_and_mapped_ipv4_as_ipv4() -> None:
    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:bbbb::2")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("cli") == "cli"


# Found by review: IPv6 sources are throttled by their /64.


def test_ipv6_sources_are_throttled_by_their_64_prefix() -> None:
    from domogate.core.throttle import source_key

    assert source_key("2001:db8:1:2:aaaa::1") == source_key("2001:db8:1:2:ffff::9")
    assert source_key("2001:db8:1:2::1") != source_key("2001:db8:1:3::1")
    assert source_key("::ffff:192.0.2.7") == "192.0.2.7"
    assert source_key("192.0.2.7") == "192.0.2.7"
    assert source_key("testclient") == "testclient"
