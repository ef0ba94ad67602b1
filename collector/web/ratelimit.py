"""In-memory token buckets per client, keyed by a hash that forgets the IP.

The key is a keyed hash of the client address with a random key made at start and never stored,
so the limiter holds no IP and its keys mean nothing outside this process.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets


def _network_of(client: str) -> bytes:
    """An IPv6 visitor owns a whole /64: rotating addresses inside it is still one client."""
    if ":" in client:
        with contextlib.suppress(ValueError):
            return ipaddress.ip_network(f"{client}/64", strict=False).network_address.packed
    return client.encode()


class RateLimiter:
    def __init__(self, per_second: float, burst: int, max_clients: int = 100_000) -> None:
        self._rate = per_second
        self._burst = float(burst)
        self._max_clients = max_clients
        self._key = secrets.token_bytes(16)
        self._buckets: dict[bytes, tuple[float, float]] = {}

    @property
    def enabled(self) -> bool:
        return self._rate > 0

    def allow(self, client: str, now: float) -> bool:
        if not self.enabled:
            return True
        key = hashlib.blake2b(_network_of(client), key=self._key, digest_size=8).digest()
        tokens, last = self._buckets.get(key, (self._burst, now))
        tokens = min(self._burst, tokens + (now - last) * self._rate)
        if tokens < 1.0:
            self._buckets[key] = (tokens, now)
            return False
        if len(self._buckets) >= self._max_clients and key not in self._buckets:
            self._forget_full_buckets(now)
        self._buckets[key] = (tokens - 1.0, now)
        return True

    def _forget_full_buckets(self, now: float) -> None:
        """Buckets that have refilled carry no information: drop them to bound memory."""
        refill = self._burst / self._rate
        self._buckets = {
            key: (tokens, last)
            for key, (tokens, last) in self._buckets.items()
            if now - last < refill
        }
        if len(self._buckets) >= self._max_clients:
            self._buckets.clear()
