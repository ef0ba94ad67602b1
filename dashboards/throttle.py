"""Sign-in throttling: failed attempts per e-mail in a sliding window, in memory."""

from __future__ import annotations

import threading
from collections import deque

THROTTLE_ATTEMPTS = 5
THROTTLE_WINDOW_SECONDS = 15 * 60
THROTTLE_ENTRIES = 100_000


class LoginThrottle:
    """Failed sign-ins per e-mail in a sliding window, in memory."""

    def __init__(self, attempts: int = THROTTLE_ATTEMPTS, window: int = THROTTLE_WINDOW_SECONDS):
        self.attempts = attempts
        self.window = window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def retry_after(self, email: str, now: float) -> int:
        """Seconds before ``email`` may try again (0: now)."""
        with self._lock:
            failures = self._recent(email, now)
            if len(failures) < self.attempts:
                return 0
            return max(1, int(failures[-self.attempts] + self.window - now) + 1)

    def failed(self, email: str, now: float) -> None:
        with self._lock:
            if len(self._failures) >= THROTTLE_ENTRIES:
                self._forget_stale(now)
            self._recent(email, now).append(now)

    def succeeded(self, email: str) -> None:
        with self._lock:
            self._failures.pop(email, None)

    def _recent(self, email: str, now: float) -> deque[float]:
        failures = self._failures.setdefault(email, deque(maxlen=self.attempts))
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def _forget_stale(self, now: float) -> None:
        for email in [e for e, f in self._failures.items() if not f or f[-1] <= now - self.window]:
            del self._failures[email]
        while len(self._failures) >= THROTTLE_ENTRIES:
            del self._failures[next(iter(self._failures))]
