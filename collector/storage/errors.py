"""The storage wing's error: the store cannot be reached or refused a statement."""

from __future__ import annotations

from collector import AudienceError


class StoreError(AudienceError):
    """The store cannot be reached or refused a statement; the message says which. Answered
    503 where a request meets it: the store may be back in a moment."""

    status = 503
