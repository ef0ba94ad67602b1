"""What a User-Agent costs the collector: the start, a cache hit, and a miss.

    python -m loadtests.agents

Runs in this process, as a serving process would: the warm-up of ``collector.ingest.agent`` first,
then each string of the test corpus (tests/agents/corpus.jsonl) parsed once, so that the rules its
families need are compiled. Then three kinds of strings the cache has not seen are timed:

- *new versions*: the corpus's strings with their version numbers changed, as a browser update
  brings them (the misses a real site sees);
- *spliced*: the start of one corpus string and the end of another, cut at a ``;`` or ``)``;
- *random*: printable ASCII of User-Agent length, as an attacker's flood would send.

Each is a miss of the parse the edge runs (``collector.ingest.agent.parse_agent``); a hit is timed
on the same strings again.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import string
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from collector.ingest import agent

CORPUS = Path(__file__).parent.parent / "tests" / "agents" / "corpus.jsonl"
_VERSION = re.compile(r"\d+(?:\.\d+)+")
_TOKENS = re.compile(r"[^;()]+|[;()]")


def _corpus() -> list[str]:
    return [json.loads(line)["user_agent"] for line in CORPUS.read_text().splitlines()]


def new_versions(strings: list[str], rng: random.Random) -> Iterable[str]:
    def bump(match: re.Match[str]) -> str:
        parts = match.group().split(".")
        return ".".join(str(int(part) + rng.randint(1, 9)) for part in parts)

    return (_VERSION.sub(bump, text) for text in strings)


def spliced(strings: list[str], rng: random.Random) -> Iterable[str]:
    for _ in strings:
        head = _TOKENS.findall(rng.choice(strings))
        tail = _TOKENS.findall(rng.choice(strings))
        yield "".join(head[: rng.randint(0, len(head))] + tail[rng.randint(0, len(tail)) :])


def random_text(strings: list[str], rng: random.Random) -> Iterable[str]:
    alphabet = string.ascii_letters + string.digits + string.punctuation + " "
    return ("".join(rng.choices(alphabet, k=rng.randint(20, 200))) for _ in strings)


def _timed(parse: Callable[[str], object], texts: Iterable[str]) -> list[float]:
    costs = []
    for text in texts:
        started = time.perf_counter()
        parse(text)
        costs.append(time.perf_counter() - started)
    return costs


def _line(name: str, costs: list[float]) -> str:
    ordered = sorted(costs)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return (
        f"{name:<13} {len(costs):>5} strings   median {statistics.median(costs) * 1e6:7.0f} µs"
        f"   p99 {p99 * 1e6:7.0f} µs   max {ordered[-1] * 1e6:7.0f} µs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    rng = random.Random(arguments.seed)
    strings = _corpus()

    started = time.perf_counter()
    agent.warm_up()
    print(f"warm-up       {time.perf_counter() - started:.2f} s")
    started = time.perf_counter()
    for text in strings:
        agent.parse_agent(text)
    elapsed = time.perf_counter() - started
    print(f"first parse of the {len(strings)} corpus strings: {elapsed:.2f} s")

    kinds = (("new versions", new_versions), ("spliced", spliced), ("random", random_text))
    for name, make in kinds:
        texts = [text for text in make(strings, rng) if text.strip()]
        print(_line(f"miss: {name}", _timed(agent.parse_agent, texts)))
    print(_line("hit", _timed(agent.parse_agent, strings)))


if __name__ == "__main__":
    main()
