"""Kalido Audience collector: consent-gated beacons in, anonymous rows out."""

__version__ = "0.1.0"


class AudienceError(Exception):
    """An error the product answers or reports: ``status`` is the HTTP status a request meeting
    it gets (a JSON message naming the problem), the message says what is wrong."""

    status = 500

    def __init__(self, message: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
