"""What the email reports' tests share: a real SMTP server that can refuse, realistic traffic of
the last weeks through the real pipeline, and a report made long ago."""

from __future__ import annotations

import email
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import Message
from typing import Any

import orjson
from aiosmtpd.controller import Controller

from collector.demo.traffic import VisitorModel
from collector.ingest.geo import GeoLocator
from collector.ingest.pipeline import Accepted, Incoming, Pipeline
from collector.ops.metrics import Metrics
from collector.storage.rows import encode_row
from collector.storage.sites import Site, SiteRegistry
from collector.storage.store import Store
from collector.web.ratelimit import RateLimiter
from collector.web.visitor import StateSigner
from dashboards.reports import Report, Reports
from tests.conftest import LYON_ORANGE, PARIS_FREE_V6, SECRET, GeoFiles, free_port

SITE = "reports.example"
TIMEZONE = "America/New_York"  # not UTC: weeks and months start at its midnight
RECIPIENTS = ("Marketing@Example.com", "boss@example.com")


@dataclass
class Inbox:
    """An aiosmtpd handler keeping what it receives; it refuses the next ``refusals`` mails
    with ``answer`` first."""

    messages: list[Message] = field(default_factory=list)
    envelopes: list[list[str]] = field(default_factory=list)
    refusals: int = 0
    answer: str = "451 4.3.0 Try again later"
    attempts: int = 0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.attempts += 1
        if self.refusals > 0:
            self.refusals -= 1
            return self.answer
        self.messages.append(email.message_from_bytes(envelope.content))
        self.envelopes.append(list(envelope.rcpt_tos))
        return "250 OK"

    def wait(self, count: int, timeout: float = 30.0) -> list[Message]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages


def smtp_server(inbox: Inbox) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    return controller


def feed(store: Store, geo: GeoFiles, now: datetime, days: int = 16, visitors: int = 60) -> int:
    """Visitors of the ``days`` before ``now``, through the real pipeline; the rows stored."""
    pipeline = Pipeline(
        sites=SiteRegistry({SITE: Site(SITE, timezone=TIMEZONE)}),
        geo=GeoLocator(geo.city, geo.isp),
        signer=StateSigner(SECRET.encode()),
        limiter=RateLimiter(0, 1),
        metrics=Metrics(),
    )
    model = VisitorModel(visitors, seed=3)
    end = int(now.timestamp())
    tokens: dict[int, str] = {}
    rows = []
    for event in model.plan(end - days * 86_400, end):
        persona = model.personas[event.visitor]
        body = {"site": SITE, "type": event.type, "url": f"https://{SITE}{event.path}",
                "consent": "manual", "engaged_ms": event.engaged_ms}  # fmt: skip
        ip = LYON_ORANGE if event.visitor % 2 else PARIS_FREE_V6
        incoming = Incoming(
            orjson.dumps(body), ip, persona.user_agent, f"https://{SITE}",
            tokens.get(event.visitor), False, event.ts,
        )  # fmt: skip
        outcome = pipeline.run(incoming)
        if isinstance(outcome, Accepted):
            tokens[event.visitor] = pipeline.signer.sign(outcome.state)
            rows.append(encode_row(outcome.row))
    for index in range(0, len(rows), 1000):
        store.insert_events(rows[index : index + 1000], f"reports-test-{index}")
    return len(rows)


def old_report(store: Store, frequency: str = "weekly", days_ago: int = 90) -> Report:
    """A report made ``days_ago`` days ago: its last complete period is due."""
    made = (datetime.now(UTC) - timedelta(days=days_ago)).timestamp()
    return Reports(store, clock=lambda: made).add(SITE, frequency, RECIPIENTS, "ana@example.com")
