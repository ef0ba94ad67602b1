"""parse_agent against 792 real User-Agent strings annotated by their sources (tests/agents/).

Every visitor must be kept and every bot or monitor dropped (the failures are listed); device type,
browser (family and major version) and OS must each be right on at least 98 % of the visitors.
The accuracy of each column is printed (``pytest -s tests/ingest/test_agent_corpus.py``) and
named in the failure message. What the classifier is given, and why 40 entries are counted
apart, is in tests/agents/SOURCES.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.ingest.agent import Agent, ClientHints, parse_agent

CORPUS = Path(__file__).parents[1] / "agents" / "corpus.jsonl"
REQUIRED_ACCURACY = 0.98


@dataclass(frozen=True)
class Entry:
    user_agent: str
    bot: bool
    expected: dict[str, Any]
    hints: ClientHints
    needs_model_hint: bool  # annotated from Sec-CH-UA-Model, which the collector never receives

    def agent(self) -> Agent:
        return parse_agent(self.user_agent, self.hints)


def _entry(record: dict[str, Any]) -> Entry:
    headers = {name.lower(): value for name, value in (record.get("client_hints") or {}).items()}
    hints = ClientHints(
        headers.get("sec-ch-ua", ""),
        headers.get("sec-ch-ua-mobile", ""),
        headers.get("sec-ch-ua-platform", ""),
    )
    model = headers.get("sec-ch-ua-model", "").strip('" ')
    return Entry(record["user_agent"], record["bot"], record, hints, bool(model))


ENTRIES = [_entry(json.loads(line)) for line in CORPUS.read_text().splitlines()]
VISITORS = [entry for entry in ENTRIES if not entry.bot]
BOTS = [entry for entry in ENTRIES if entry.bot]


def test_the_corpus_is_as_large_as_promised() -> None:
    assert len(ENTRIES) >= 500
    assert len(BOTS) >= 150
    assert len({entry.user_agent for entry in ENTRIES}) == len(ENTRIES)


def test_no_visitor_is_dropped() -> None:
    agents = [(entry.agent(), entry.user_agent) for entry in VISITORS]
    dropped = [f"{agent.bot}: {user_agent}" for agent, user_agent in agents if agent.is_bot]
    assert dropped == [], f"{len(dropped)} of {len(VISITORS)} visitors dropped as bots"


def test_no_bot_or_monitor_is_stored() -> None:
    stored = [
        f"{entry.expected.get('category')!r}: {entry.user_agent}"
        for entry in BOTS
        if not entry.agent().is_bot
    ]
    assert stored == [], f"{len(stored)} of {len(BOTS)} bots and monitors stored as visitors"


COLUMNS: dict[str, Callable[[Agent, dict[str, Any]], bool]] = {
    "device": lambda agent, expected: agent.device == expected["device"],
    "browser": lambda agent, expected: (
        (agent.browser, agent.browser_version) == (expected["browser"], expected["browser_major"])
    ),
    "browser family": lambda agent, expected: agent.browser == expected["browser"],
    "os": lambda agent, expected: agent.os == expected["os"],
}


def _accuracy(entries: list[Entry], column: str) -> tuple[float, str]:
    """The share of entries right in the column, and a figure naming the wrong ones."""
    is_right = COLUMNS[column]
    wrong = [entry for entry in entries if not is_right(entry.agent(), entry.expected)]
    share = 1 - len(wrong) / len(entries)
    misses = "".join(f"\n  got {entry.agent()}: {entry.user_agent}" for entry in wrong)
    return share, f"{column}: {len(entries) - len(wrong)}/{len(entries)} ({share:.1%}){misses}"


@pytest.mark.parametrize("column", list(COLUMNS))
def test_accuracy_of_each_column(column: str) -> None:
    decidable = [entry for entry in VISITORS if not entry.needs_model_hint]
    share, figure = _accuracy(decidable, column)
    apart, _ = _accuracy([entry for entry in VISITORS if entry.needs_model_hint], column)
    overall, _ = _accuracy(VISITORS, column)
    print(f"\n{figure}\n  annotated from the model hint: {apart:.1%}; all visitors: {overall:.1%}")
    assert share >= REQUIRED_ACCURACY, figure
