"""Logging without IPs, cookies or query strings.

uvicorn's access log is off (it would write client addresses and full request lines); our own
log lines never receive those values in the first place. This module only sets the format.
"""

from __future__ import annotations

import logging
from typing import Any

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def configure(level: str) -> None:
    logging.basicConfig(level=level.upper(), format=FORMAT, force=True)


def uvicorn_log_config(level: str) -> dict[str, Any]:
    """uvicorn's own loggers, in our format, with the access logger silenced."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"plain": {"format": FORMAT}},
        "handlers": {
            "default": {"class": "logging.StreamHandler", "formatter": "plain"},
        },
        "loggers": {
            "uvicorn": {"handlers": ["default"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": [], "level": "CRITICAL", "propagate": False},
            "audience": {"handlers": ["default"], "level": level.upper(), "propagate": False},
        },
    }
