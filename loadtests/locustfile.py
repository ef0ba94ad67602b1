"""Realistic visitors sending beacons to a running collector, for locust.

    locust -f loadtests/locustfile.py --headless -u 50 -r 10 -t 60s \\
        --host http://127.0.0.1:8000 --audience-site loadtest.example --tally-file tally.json

``python -m loadtests.locust_run`` starts a collector for it and checks the store afterwards. Run
directly, the collector must know the site (``audience sites add``), list the machine running
locust in ``AUDIENCE_TRUSTED_PROXIES`` (addresses come in ``X-Forwarded-For``) and run with
``AUDIENCE_RATE_LIMIT=0``.

Each locust user plays visits to the site, one after another, a page per task and a think time
between pages. A visit is made by one of:

- a consenting visitor, new (an empty cookie jar) or returning (its jar kept from an earlier
  visit): a landing page, then pages reached by a page load or an SPA navigation, each page
  left with an engagement beacon carrying its engaged time, as the snippet does. Its address
  is drawn from the GeoIP networks of ``collector.demo.traffic``, its User-Agent from its weights;
- a visitor who never consents: pages are read and nothing is sent, as the snippet does;
- bad traffic: a crawler running the snippet (its consented beacons are answered 202 "dropped",
  reason "bot"), a page whose integration sends beacons without consent (403), a broken client
  sending malformed JSON (400).

Every answer is checked against the one expected: any other is a locust failure. The beacons
accepted (202, empty body) are tallied by type, with the visitors given a cookie; every beacon's
page is under a per-run path prefix (``--run-marker``) so this run's rows can be counted apart
from earlier ones. When the test stops, the tally and locust's figures go to ``--tally-file``.
"""

from __future__ import annotations

import ipaddress
import json
import math
import random
import secrets
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from locust import HttpUser, events, task
from locust.argument_parser import LocustArgumentParser
from locust.clients import ResponseContextManager
from locust.env import Environment
from locust.event import EventHook
from requests.cookies import RequestsCookieJar

from collector.demo.traffic import CONSENTS, PAGES, USER_AGENTS, networks

DEFAULT_SITE = "loadtest.example"
COOKIE = "audience"  # the visitor cookie's name on a plain-http collector
MIN_STOP_TIMEOUT = 10.0  # seconds for a user to finish its step at the end: no request is cut
MAX_RETURNING = 10_000  # visitors kept for a later visit
CRAWLER_USER_AGENTS = (
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0;"
    " +http://www.bing.com/bingbot.htm) Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)"
    " HeadlessChrome/131.0.0.0 Safari/537.36",
)
BAD_KINDS = (("crawler", 4), ("no_consent", 3), ("malformed", 3))
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
NETWORKS = [ipaddress.ip_network(cidr) for cidr in networks()]


@dataclass(frozen=True)
class Mix:
    """The shape of the traffic, from the command line."""

    consent_rate: float = 0.7  # visitors who consent; the others send nothing
    bad_share: float = 0.1  # visits that are bad traffic
    returning_share: float = 0.4  # consenting visits by a visitor who came before
    spa_share: float = 0.5  # navigations without a page load
    think_time: float = 2.0  # median seconds on a page


@dataclass
class Tally:
    """What the collector answered, exactly: only answers as expected are counted."""

    accepted: Counter[str] = field(default_factory=Counter)  # 202 accepted, by beacon type
    answers: Counter[str] = field(default_factory=Counter)  # the other expected answers
    visits: Counter[str] = field(default_factory=Counter)  # by kind of visit
    visitors: int = 0  # visitors who got their cookie: distinct visitor ids stored
    silent_pages: int = 0  # pages read by visitors who never consent: nothing sent


@dataclass
class Visitor:
    """A browser: its User-Agent, its network, its consent choice and its cookie jar."""

    user_agent: str
    network: Network
    consent: str
    jar: RequestsCookieJar = field(default_factory=RequestsCookieJar)

    def address(self) -> str:
        """An address in the visitor's network: a mobile or a box may get another each visit."""
        return str(self.network[random.randrange(1, self.network.num_addresses - 1)])

    @property
    def has_cookie(self) -> bool:
        return COOKIE in self.jar


@dataclass
class Visit:
    kind: str  # consenting, silent, crawler, no_consent or malformed
    visitor: Visitor
    address: str
    pages_left: int
    path: str | None = None  # the page shown; None before the landing page
    shown_at: float = 0.0


@dataclass
class Run:
    """This run's settings, its tally and the visitors who may come back."""

    site: str = DEFAULT_SITE
    marker: str = field(default_factory=lambda: f"lt-{secrets.token_hex(4)}")
    mix: Mix = field(default_factory=Mix)
    tally: Tally = field(default_factory=Tally)
    returning: list[Visitor] = field(default_factory=list)


RUN = Run()


def pick(weighted: tuple[tuple[str, int], ...]) -> str:
    return random.choices([value for value, _ in weighted], [w for _, w in weighted])[0]


def new_visitor(user_agent: str | None = None) -> Visitor:
    """A browser never seen before: an empty jar, a network of the GeoIP databases, and a
    User-Agent (by default one of the real browsers and devices, with their weights)."""
    agent = user_agent or pick(USER_AGENTS)
    return Visitor(agent, random.choice(NETWORKS), pick(CONSENTS))


def take_returning_visitor() -> Visitor | None:
    if not RUN.returning or random.random() >= RUN.mix.returning_share:
        return None
    return RUN.returning.pop(random.randrange(len(RUN.returning)))


def keep_for_later(visitor: Visitor) -> None:
    if len(RUN.returning) < MAX_RETURNING:
        RUN.returning.append(visitor)


def page_count() -> int:
    """1 to 8 pages, mostly few: the shape of ``collector.demo.traffic`` visits."""
    return min(8, 1 + int(random.expovariate(0.6)))


def beacon(kind: str, path: str, consent: str | None, engaged_ms: int = 0) -> bytes:
    """The snippet's beacon; the page is under the run's marker."""
    url = f"https://{RUN.site}/{RUN.marker}{path}"
    fields: dict[str, Any] = {"site": RUN.site, "type": kind, "url": url}
    if consent is not None:
        fields["consent"] = consent
    if engaged_ms:
        fields["engaged_ms"] = engaged_ms
    return json.dumps(fields, separators=(",", ":")).encode()


def malformed_body() -> bytes:
    whole = beacon("pageview", "/", "manual")
    return random.choice((whole[: len(whole) // 2], b"undefined", b"[" + whole + b"]"))


@dataclass(frozen=True)
class Expected:
    """The answer a beacon must get: its status, fields of its JSON (or an empty body), whether it
    sets the cookie."""

    status: int
    fields: Mapping[str, str]
    sets_cookie: bool = False
    empty_body: bool = False

    def problem(self, response: ResponseContextManager) -> str | None:
        """None when the answer is right, else what is wrong (a locust failure)."""
        answer = _json_object(response)
        if response.status_code != self.status or any(
            answer.get(name) != value for name, value in self.fields.items()
        ):
            got = f"{response.status_code}: {response.text[:200]}"
            return f"expected {self.status} {dict(self.fields)}, got {got}"
        if self.empty_body and response.content:
            return f"expected an empty body, got {response.text[:200]}"
        if response.headers.get("set-cookie", "").startswith(f"{COOKIE}=") != self.sets_cookie:
            return "the visitor cookie was " + ("not set" if self.sets_cookie else "set")
        return None


def _json_object(response: ResponseContextManager) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


ACCEPTED = Expected(202, {}, sets_cookie=True, empty_body=True)
DROPPED_AS_BOT = Expected(202, {"status": "dropped", "reason": "bot"})
NO_CONSENT = Expected(403, {"field": "consent"})
MALFORMED = Expected(400, {"field": "body"})


class SiteTraffic(HttpUser):
    """Visits to the site, one after another: each task shows one page of the current visit."""

    def wait_time(self) -> float:
        """Think time on a page: log-normal around the median, at most ten times it."""
        median = RUN.mix.think_time
        return min(10 * median, median * random.lognormvariate(0.0, 0.75))

    def on_start(self) -> None:
        self.visit: Visit | None = None

    @task
    def next_page(self) -> None:
        if self.visit is None:
            self.visit = self.begin_visit()
        visit = self.visit
        if visit.pages_left == 0:
            self.end_visit(visit)
            return
        visit.pages_left -= 1
        STEPS[visit.kind](self, visit)

    def begin_visit(self) -> Visit:
        """Who comes next: bad traffic, a consenting visitor (new or returning), or a silent one."""
        if random.random() < RUN.mix.bad_share:
            kind = counted = pick(BAD_KINDS)
            crawler = kind == "crawler"
            visitor = new_visitor(random.choice(CRAWLER_USER_AGENTS) if crawler else None)
            pages = 1 if kind == "malformed" else random.randint(1, 6)
        elif random.random() < RUN.mix.consent_rate:
            returning = take_returning_visitor()
            kind, counted = "consenting", "returning" if returning else "new"
            visitor, pages = returning or new_visitor(), page_count()
        else:
            kind = counted = "silent"
            visitor, pages = new_visitor(), page_count()
        RUN.tally.visits[counted] += 1
        return Visit(kind, visitor, visitor.address(), pages)

    def end_visit(self, visit: Visit) -> None:
        """Leave the last page (its engagement beacon); a consenting visitor may come back."""
        if visit.kind == "consenting" and visit.path is not None:
            self.leave_page(visit)
            keep_for_later(visit.visitor)
        self.visit = None

    def consenting_page(self, visit: Visit) -> None:
        """The landing page, or the next one after leaving the current page."""
        path = pick(PAGES)
        if visit.path is None:
            label = "pageview (landing)"
        else:
            self.leave_page(visit)
            label = "pageview (spa)" if random.random() < RUN.mix.spa_share else "pageview (load)"
        body = beacon("pageview", path, visit.visitor.consent)
        if self.send(visit, label, body, ACCEPTED):
            RUN.tally.accepted["pageview"] += 1
        visit.path, visit.shown_at = path, time.monotonic()

    def leave_page(self, visit: Visit) -> None:
        """The engagement beacon of the page being left: its visible, active time."""
        assert visit.path is not None
        active = random.uniform(0.4, 1.0)
        engaged_ms = max(1, math.floor((time.monotonic() - visit.shown_at) * 1000 * active))
        body = beacon("engagement", visit.path, visit.visitor.consent, engaged_ms)
        if self.send(visit, "engagement", body, ACCEPTED):
            RUN.tally.accepted["engagement"] += 1

    def silent_page(self, visit: Visit) -> None:
        RUN.tally.silent_pages += 1

    def crawler_page(self, visit: Visit) -> None:
        body = beacon("pageview", pick(PAGES), visit.visitor.consent)
        if self.send(visit, "bot", body, DROPPED_AS_BOT):
            RUN.tally.answers["bot (202 dropped)"] += 1

    def unconsented_page(self, visit: Visit) -> None:
        body = beacon("pageview", pick(PAGES), consent=None)
        if self.send(visit, "no consent", body, NO_CONSENT):
            RUN.tally.answers["no consent (403)"] += 1

    def malformed_page(self, visit: Visit) -> None:
        if self.send(visit, "malformed", malformed_body(), MALFORMED):
            RUN.tally.answers["malformed (400)"] += 1

    def send(self, visit: Visit, label: str, body: bytes, expected: Expected) -> bool:
        """POST the beacon as ``sendBeacon`` would, with the visitor's jar; True if as expected."""
        visitor = visit.visitor
        had_cookie = visitor.has_cookie
        self.client.cookies = visitor.jar
        headers = {
            "content-type": "text/plain;charset=UTF-8",
            "origin": f"https://{RUN.site}",
            "user-agent": visitor.user_agent,
            "x-forwarded-for": visit.address,
        }
        with self.client.post(
            "/api/event", data=body, headers=headers, name=label, catch_response=True
        ) as response:
            problem = expected.problem(response)
            if problem is None:
                response.success()
            else:
                response.failure(problem)
        if problem is None and not had_cookie and visitor.has_cookie:
            RUN.tally.visitors += 1
        return problem is None


STEPS: dict[str, Callable[[SiteTraffic, Visit], None]] = {
    "consenting": SiteTraffic.consenting_page,
    "silent": SiteTraffic.silent_page,
    "crawler": SiteTraffic.crawler_page,
    "no_consent": SiteTraffic.unconsented_page,
    "malformed": SiteTraffic.malformed_page,
}


def add_arguments(parser: LocustArgumentParser, **_: object) -> None:
    defaults = Mix()
    options: list[tuple[str, type, object, str]] = [
        ("--audience-site", str, DEFAULT_SITE, "the registered site the beacons are for"),
        ("--run-marker", str, "", "the path prefix of this run's pages (default: random)"),
        ("--tally-file", str, "", "where to write the tally (JSON) when the test stops"),
        ("--consent-rate", float, defaults.consent_rate, "share of visitors who consent"),
        ("--bad-share", float, defaults.bad_share, "share of visits that are bad traffic"),
        ("--returning-share", float, defaults.returning_share, "share of returning visits"),
        ("--spa-share", float, defaults.spa_share, "share of navigations without page load"),
        ("--think-time", float, defaults.think_time, "median seconds spent on a page"),
    ]
    for flag, kind, default, help_text in options:
        env_var = "LOCUST_" + flag.removeprefix("--").replace("-", "_").upper()
        parser.add_argument(flag, type=kind, default=default, env_var=env_var, help=help_text)


def configure(environment: Environment, **_: object) -> None:
    """Take this run's settings; give users time to finish their request when the test stops."""
    options = environment.parsed_options
    if options is not None:
        RUN.site = options.audience_site
        RUN.marker = options.run_marker or RUN.marker
        RUN.mix = Mix(
            consent_rate=options.consent_rate,
            bad_share=options.bad_share,
            returning_share=options.returning_share,
            spa_share=options.spa_share,
            think_time=options.think_time,
        )
    environment.stop_timeout = max(environment.stop_timeout, MIN_STOP_TIMEOUT)


def reset_tally(environment: Environment, **_: object) -> None:
    RUN.tally = Tally()
    RUN.returning.clear()


def write_tally(environment: Environment, **_: object) -> None:
    options = environment.parsed_options
    path = options.tally_file if options is not None else ""
    if path:
        Path(path).write_text(json.dumps(tally_record(environment), indent=2) + "\n")


def tally_record(environment: Environment) -> dict[str, Any]:
    """The tally, with locust's own figures, as the JSON ``locust_run`` reads."""
    total = environment.stats.total
    tally = RUN.tally
    return {
        "site": RUN.site,
        "marker": RUN.marker,
        "accepted": {kind: tally.accepted[kind] for kind in ("pageview", "engagement")},
        "visitors": tally.visitors,
        "answers": dict(tally.answers),
        "visits": dict(tally.visits),
        "silent_pages": tally.silent_pages,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "requests_per_second": round(total.total_rps, 1),
    }


def listen(hook: EventHook, handler: Callable[..., None]) -> None:
    hook.add_listener(handler)  # type: ignore[no-untyped-call]  # locust leaves it untyped


listen(events.init_command_line_parser, add_arguments)
listen(events.init, configure)
listen(events.test_start, reset_tally)
listen(events.test_stop, write_tally)
