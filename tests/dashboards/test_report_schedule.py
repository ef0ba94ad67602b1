"""``audience serve --workers 2`` as a real process, with a real SMTP server: the email reports
due are sent by the process that owns the background work, each period once, however many
checks and workers there are, and not again after a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from collector.settings import Settings
from collector.storage.sites import Site
from dashboards.reports import last_complete_period
from tests.conftest import GeoFiles, ServerProcess, environment, migrated_store
from tests.dashboards.reporting import (
    RECIPIENTS,
    SITE,
    TIMEZONE,
    Inbox,
    feed,
    old_report,
    smtp_server,
)

CHECK_SECONDS = "0.2"  # five checks a second: a period sent twice would show at once


def test_two_workers_send_each_period_once_across_a_restart(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    inbox = Inbox()
    smtp = smtp_server(inbox)
    env = environment(
        tmp_path / "data", geo_files,
        AUDIENCE_SMTP_URL=f"smtp://127.0.0.1:{smtp.port}",
        AUDIENCE_PUBLIC_URL="https://stats.example.org",
        AUDIENCE_REPORTS_CHECK_SECONDS=CHECK_SECONDS,
    )  # fmt: skip
    settings = Settings.from_environ(env)
    store = migrated_store(settings)
    try:
        store.save_site(Site(SITE, timezone=TIMEZONE))
        feed(store, geo_files, datetime.now(UTC), visitors=20)
        weekly, monthly = old_report(store, "weekly"), old_report(store, "monthly")
    finally:
        store.close()
    try:
        for run in range(2):
            server = ServerProcess(env, tmp_path / f"server-{run}.log", "--workers", "2")
            try:
                server.wait_ready()
                if run == 0:
                    assert len(inbox.wait(2)) == 2
                time.sleep(3)  # some fifteen more checks
            finally:
                server.stop()
    finally:
        smtp.stop()

    now = datetime.now(UTC)
    week = last_complete_period("weekly", TIMEZONE, now)
    month = last_complete_period("monthly", TIMEZONE, now)
    assert sorted(mail["Subject"] for mail in inbox.messages) == sorted([
        f"{SITE}: weekly report, {week.first} to {week.last}",
        f"{SITE}: monthly report, {month.first} to {month.last}",
    ])  # fmt: skip
    assert inbox.attempts == 2
    first, second = (tmp_path / f"server-{run}.log" for run in range(2))
    logged = first.read_text()
    assert logged.count(f"email report {weekly.id} of {SITE}") == 1
    assert logged.count(f"email report {monthly.id} of {SITE}") == 1
    assert "email report" not in second.read_text()
    assert not any(address.lower() in logged.lower() for address in RECIPIENTS)
