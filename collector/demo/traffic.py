"""Synthetic, realistic visitors: for the demo, the data generator, tests and benchmarks.

A population of visitors, each with a device, a browser, a city and an operator, who come back
now and then; each visit is a few pages with think time and an engagement ping when a page is
left. The model only plans events; callers feed them through the real pipeline.
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass

# (city, country, weight) and the operators seen there
CITIES = (
    ("Paris", "FR", 30), ("Lyon", "FR", 10), ("Marseille", "FR", 8), ("Toulouse", "FR", 7),
    ("Nantes", "FR", 5), ("Bordeaux", "FR", 5), ("Lille", "FR", 5), ("Strasbourg", "FR", 3),
    ("Rennes", "FR", 3), ("Brussels", "BE", 5), ("Geneva", "CH", 3), ("Montreal", "CA", 4),
    ("London", "GB", 4), ("Berlin", "DE", 3), ("Saint-Denis", "RE", 1),
)  # fmt: skip
OPERATORS = {
    "FR": ("Orange", "SFR", "Free", "Bouygues Telecom"),
    "BE": ("Proximus", "Telenet"),
    "CH": ("Swisscom", "Sunrise"),
    "CA": ("Videotron", "Bell Canada"),
    "GB": ("BT", "Vodafone UK"),
    "DE": ("Deutsche Telekom", "Vodafone GmbH"),
    "RE": ("SFR Reunion", "Orange Reunion"),
}
USER_AGENTS = (
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        26,
    ),
    (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0",
        8,
    ),
    (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Safari/605.1.15",
        9,
    ),
    ("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", 6),
    (
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
        2,
    ),
    (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        20,
    ),
    (
        "Mozilla/5.0 (Linux; Android 14; SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36",
        16,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-A536B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36",
        5,
    ),
    (
        "Mozilla/5.0 (iPad; CPU OS 17_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1",
        5,
    ),
    (
        "Mozilla/5.0 (Linux; Android 13; SM-X200) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
        2,
    ),
)
PAGES = (
    ("/", 30), ("/pricing", 10), ("/features", 8), ("/blog/", 8),
    ("/blog/privacy-first-analytics", 6), ("/blog/consent-banners-that-work", 5),
    ("/blog/cookies-13-months", 3), ("/docs/", 6), ("/docs/install", 5), ("/docs/snippet", 4),
    ("/docs/dashboards", 3), ("/about", 3), ("/contact", 4), ("/careers", 2), ("/legal/privacy", 2),
)  # fmt: skip
CONSENTS = (("cmp:tarteaucitron", 5), ("tcf", 3), ("gcm", 2), ("manual", 1))


def networks() -> dict[str, tuple[str, str, str]]:
    """The made-up address plan: CIDR -> (city, country, operator), one /20 per pair."""
    plan = {}
    for city_index, (city, country, _) in enumerate(CITIES):
        for operator_index, operator in enumerate(OPERATORS[country]):
            plan[f"45.{10 + city_index}.{operator_index * 16}.0/20"] = (city, country, operator)
    return plan


@dataclass(frozen=True, slots=True)
class Persona:
    ip: str
    user_agent: str
    consent: str
    loyalty: float  # probability of visiting on a given day


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    ts: int
    visitor: int
    type: str
    path: str
    engaged_ms: int = 0


class VisitorModel:
    def __init__(self, visitors: int, seed: int = 7) -> None:
        self.random = random.Random(seed)  # nosec B311 # synthetic traffic, replayable by seed
        plan = list(networks().items())
        city_weights = {city: weight for city, _, weight in CITIES}
        cidr_weights = [city_weights[place[0]] for _, place in plan]
        self.personas = []
        for _ in range(visitors):
            cidr = self.random.choices(plan, cidr_weights)[0][0]
            first, second, third, _ = cidr.split("/")[0].split(".")
            ip = f"{first}.{second}.{int(third) + self.random.randrange(16)}.{self.random.randrange(1, 255)}"
            self.personas.append(
                Persona(
                    ip=ip,
                    user_agent=self._pick(USER_AGENTS),
                    consent=self._pick(CONSENTS),
                    loyalty=self.random.choice((0.01, 0.02, 0.05, 0.1, 0.3, 0.6)),
                )
            )

    def _pick(self, weighted: tuple[tuple[str, int], ...]) -> str:
        return self.random.choices([v for v, _ in weighted], [w for _, w in weighted])[0]

    def visit(self, visitor: int, start: int) -> list[PlannedEvent]:
        """One visit: 1 to 8 pages with think time, an engagement ping as each page is left."""
        events, ts = [], start
        pages = min(8, 1 + int(self.random.expovariate(0.6)))
        for _ in range(pages):
            path = self._pick(PAGES)
            events.append(PlannedEvent(ts, visitor, "pageview", path))
            dwell = int(self.random.lognormvariate(3.3, 1.0)) + 2
            ts += dwell
            events.append(PlannedEvent(ts, visitor, "engagement", path, dwell * 1000))
            ts += self.random.randint(1, 5)
        return events

    def plan(self, start: int, end: int) -> Iterator[PlannedEvent]:
        """Every event of the visits that start in [start, end), in time order."""
        heap: list[tuple[int, int, PlannedEvent]] = []
        order = 0
        for day_start in range(start - start % 86_400, end, 86_400):
            for visitor, persona in enumerate(self.personas):
                if self.random.random() >= persona.loyalty:
                    continue
                hour = self.random.choices(range(24), _HOURLY)[0]
                visit_start = day_start + hour * 3600 + self.random.randrange(3600)
                if start <= visit_start < end:
                    for event in self.visit(visitor, visit_start):
                        heapq.heappush(heap, (event.ts, order, event))
                        order += 1
        while heap:
            yield heapq.heappop(heap)[2]


_HOURLY = (1, 1, 1, 1, 1, 2, 3, 5, 8, 9, 9, 8, 7, 8, 9, 9, 8, 7, 7, 8, 8, 6, 4, 2)
