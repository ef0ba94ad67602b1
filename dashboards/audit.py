"""The audit of administrative actions: who did what, on what, when (``audience.admin_audit``).

The dashboards and the CLI write through the same ``AuditLog``: the actor is the signed-in
account, or ``cli:<user>`` for a shell. What is recorded names sites, accounts, keys and settings,
never a visitor: no address, no cookie, no User-Agent, no visitor hash.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

from collector.storage.sql import load
from collector.storage.store import Store

MAX_DETAIL_CHARACTERS = 500


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/admin/<name>.sql``."""
    return load("dashboards", f"queries/admin/{name}")


def shell_actor() -> str:
    """The actor of a command typed in a shell: the operating system's user name."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no name for this uid (a container)
        return "cli"


@dataclass(frozen=True)
class Action:
    at: datetime
    actor: str
    action: str
    target: str
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {
            "at": self.at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "actor": self.actor,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
        }


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, actor: str, action: str, target: str, detail: str = "") -> None:
        self.store.execute(
            query("audit_record"),
            {
                "at_ms": int(time.time() * 1000),
                "actor": actor,
                "action": action,
                "target": target,
                "detail": detail[:MAX_DETAIL_CHARACTERS],
            },
        )

    def recent(self, limit: int = 200) -> list[Action]:
        return [_action(row) for row in self.store.read(query("audit_recent"), {"limit": limit})]


def _action(row: dict[str, Any]) -> Action:
    at: datetime = row["at"]
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return Action(at, row["actor"], row["action"], row["target"], row["detail"])
