"""A site's page goals and funnels: what they are and where they are kept.

A goal names the pages that count as reaching it (a path pattern,
``collector.storage.path_patterns``); a funnel, 2 to 8 such steps in order, reached within one
visit or within 7 days of the first step. Their numbers are computed by
``dashboards.conversions``; here they are defined, listed and removed. Every method blocks: call
it off the event loop.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal, get_args

from collector.storage.path_patterns import PatternError, checked_pattern
from collector.storage.sql import load
from collector.storage.store import Store
from dashboards.account_rules import AccountError

Within = Literal["visit", "7d"]
WITHIN: tuple[Within, ...] = get_args(Within)
MIN_STEPS, MAX_STEPS = 2, 8
MAX_GOALS = MAX_FUNNELS = 50
MAX_NAME_CHARACTERS = 100


@cache
def query(name: str) -> str:
    """The SQL of ``dashboards/queries/goals/<name>.sql``."""
    return load("dashboards", f"queries/goals/{name}")


@dataclass(frozen=True)
class Goal:
    site: str
    id: str
    name: str
    pattern: str

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "pattern": self.pattern}


@dataclass(frozen=True)
class Funnel:
    site: str
    id: str
    name: str
    steps: tuple[str, ...]
    within: Within

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "steps": list(self.steps), "within": self.within}


def checked_name(text: str, fallback: str) -> str:
    name = " ".join(text.split()) or fallback
    if len(name) > MAX_NAME_CHARACTERS:
        raise AccountError(f"a name has at most {MAX_NAME_CHARACTERS} characters")
    return name


def checked_steps(steps: Sequence[str]) -> tuple[str, ...]:
    """The steps of a funnel: 2 to 8 patterns (blank ones left out)."""
    given = [step for step in steps if step.strip()]
    if not MIN_STEPS <= len(given) <= MAX_STEPS:
        raise AccountError(f"a funnel has {MIN_STEPS} to {MAX_STEPS} steps, not {len(given)}")
    try:
        return tuple(checked_pattern(step) for step in given)
    except PatternError as error:
        raise AccountError(str(error)) from None


def checked_within(text: str) -> Within:
    for within in WITHIN:
        if text == within:
            return within
    raise AccountError(f"within: expected one of {', '.join(WITHIN)}")


class Goals:
    """The goals and funnels of every site, in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def goals_of(self, site: str) -> list[Goal]:
        return [
            Goal(row["site"], row["id"], row["name"], row["pattern"])
            for row in self.store.read(query("goals"), {"site": site})
        ]

    def funnels_of(self, site: str) -> list[Funnel]:
        return [
            Funnel(row["site"], row["id"], row["name"], tuple(row["steps"]),
                   checked_within(row["within"]))
            for row in self.store.read(query("funnels"), {"site": site})
        ]  # fmt: skip

    def goal(self, site: str, goal_id: str) -> Goal:
        for goal in self.goals_of(site):
            if goal.id == goal_id.strip():
                return goal
        raise AccountError(f"no such goal of {site}: {goal_id}")

    def funnel(self, site: str, funnel_id: str) -> Funnel:
        for funnel in self.funnels_of(site):
            if funnel.id == funnel_id.strip():
                return funnel
        raise AccountError(f"no such funnel of {site}: {funnel_id}")

    def add_goal(self, site: str, name: str, pattern: str, by: str) -> Goal:
        try:
            checked = checked_pattern(pattern)
        except PatternError as error:
            raise AccountError(str(error)) from None
        existing = self.goals_of(site)
        if len(existing) >= MAX_GOALS:
            raise AccountError(f"a site has at most {MAX_GOALS} goals")
        if any(goal.pattern == checked for goal in existing):
            raise AccountError(f"{site} has a goal for {checked} already")
        goal = Goal(site, _new_id(), checked_name(name, checked), checked)
        self._save_goal(goal, by)
        return goal

    def remove_goal(self, site: str, goal_id: str, by: str) -> Goal:
        goal = self.goal(site, goal_id)
        self._save_goal(goal, by, deleted=True)
        return goal

    def add_funnel(
        self, site: str, name: str, steps: Sequence[str], within: str, by: str
    ) -> Funnel:
        checked = checked_steps(steps)
        if len(self.funnels_of(site)) >= MAX_FUNNELS:
            raise AccountError(f"a site has at most {MAX_FUNNELS} funnels")
        fallback = " → ".join(checked)[:MAX_NAME_CHARACTERS]
        funnel = Funnel(site, _new_id(), checked_name(name, fallback), checked,
                        checked_within(within))  # fmt: skip
        self._save_funnel(funnel, by)
        return funnel

    def remove_funnel(self, site: str, funnel_id: str, by: str) -> Funnel:
        funnel = self.funnel(site, funnel_id)
        self._save_funnel(funnel, by, deleted=True)
        return funnel

    def _save_goal(self, goal: Goal, by: str, *, deleted: bool = False) -> None:
        self.store.execute(query("save_goal"), {
            "site": goal.site, "id": goal.id, "name": goal.name, "pattern": goal.pattern,
            **_version(by, deleted),
        })  # fmt: skip

    def _save_funnel(self, funnel: Funnel, by: str, *, deleted: bool = False) -> None:
        self.store.execute(query("save_funnel"), {
            "site": funnel.site, "id": funnel.id, "name": funnel.name,
            "steps": list(funnel.steps), "within": funnel.within, **_version(by, deleted),
        })  # fmt: skip


def _new_id() -> str:
    return secrets.token_hex(4)


def _version(by: str, deleted: bool) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"created_by": by, "created_ms": now, "updated_ms": now, "deleted": int(deleted)}
