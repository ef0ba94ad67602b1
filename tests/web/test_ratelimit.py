"""RateLimiter: token buckets per client."""

from __future__ import annotations

import ipaddress

from collector.web.ratelimit import RateLimiter


def test_burst_then_refusal() -> None:
    limiter = RateLimiter(per_second=1.0, burst=5)
    assert limiter.enabled
    assert [limiter.allow("198.51.100.7", 100.0) for _ in range(5)] == [True] * 5
    assert limiter.allow("198.51.100.7", 100.0) is False
    assert limiter.allow("198.51.100.7", 100.5) is False


def test_refill_over_time() -> None:
    limiter = RateLimiter(per_second=2.0, burst=4)
    for _ in range(4):
        assert limiter.allow("client", 0.0)
    assert not limiter.allow("client", 0.0)
    assert not limiter.allow("client", 0.4)  # 0.8 of a token: not enough
    assert limiter.allow("client", 0.5)  # one token after half a second at 2 per second
    assert not limiter.allow("client", 0.5)
    assert limiter.allow("client", 1.0)
    # a long pause refills up to the burst, never beyond
    assert [limiter.allow("client", 1000.0) for _ in range(5)] == [True] * 4 + [False]


def test_refusals_do_not_cost_tokens() -> None:
    limiter = RateLimiter(per_second=1.0, burst=1)
    assert limiter.allow("client", 0.0)
    for moment in (0.1, 0.2, 0.3, 0.9):
        assert not limiter.allow("client", moment)
    assert limiter.allow("client", 1.0)


def test_disabled_at_rate_zero() -> None:
    limiter = RateLimiter(per_second=0.0, burst=1)
    assert not limiter.enabled
    assert all(limiter.allow("client", 0.0) for _ in range(1000))


def test_clients_are_independent() -> None:
    limiter = RateLimiter(per_second=1.0, burst=2)
    assert limiter.allow("203.0.113.1", 0.0)
    assert limiter.allow("203.0.113.1", 0.0)
    assert not limiter.allow("203.0.113.1", 0.0)
    assert limiter.allow("203.0.113.2", 0.0)
    assert limiter.allow("203.0.113.2", 0.0)
    assert not limiter.allow("203.0.113.2", 0.0)
    assert limiter.allow("2001:db8::1", 0.0)
    assert not limiter.allow("203.0.113.1", 0.0)


def test_many_clients_stay_bounded() -> None:
    limiter = RateLimiter(per_second=1.0, burst=1, max_clients=10)
    for number in range(50):
        assert limiter.allow(f"10.0.0.{number}", float(number) / 100)
        assert len(limiter._buckets) <= 10
    # the newest client is still tracked and limited after the older ones were forgotten
    assert not limiter.allow("10.0.0.49", 0.49)


def test_an_ipv6_visitor_is_one_client_per_64() -> None:
    limiter = RateLimiter(per_second=0.001, burst=2)
    assert limiter.allow("2a01:e0a:1:2::1", 0.0)
    assert limiter.allow("2a01:e0a:1:2::ffff", 0.0)  # another address of the same /64
    assert not limiter.allow("2a01:e0a:1:2:aaaa::9", 0.0)
    assert limiter.allow("2a01:e0a:1:3::1", 0.0)  # the next /64 is someone else


def test_the_buckets_keep_no_address() -> None:
    """Keys are keyed hashes with a key made at start: no address, and nothing another process
    (or a memory dump read later) could match against an address."""
    addresses = ["198.51.100.7", "2a01:e0a:1:2::1"]
    one, other = RateLimiter(per_second=1.0, burst=5), RateLimiter(per_second=1.0, burst=5)
    for limiter in (one, other):
        for address in addresses:
            assert limiter.allow(address, 0.0)
    for address in addresses:
        packed = ipaddress.ip_address(address).packed
        for key in one._buckets:
            assert len(key) == 8
            assert address.encode() not in key and packed not in key
        state = repr(vars(one))
        assert address not in state and address.split(":")[0] not in state
    assert set(one._buckets).isdisjoint(other._buckets)  # the key differs per process
