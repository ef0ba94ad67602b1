"""kill -9 right after 202s: every accepted beacon is stored exactly once after a restart."""

from __future__ import annotations

import signal
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from collector.settings import Settings
from collector.sites import Site
from tests.conftest import (
    CHROME,
    LYON_ORANGE,
    GeoFiles,
    ServerProcess,
    beacon,
    environment,
    query_stopped_store,
    register,
)

BEACONS = 300


def post_all(url: str, paths: list[str]) -> list[str]:
    """Send one beacon per path from 16 threads; the paths that were answered 202."""

    def post(path: str) -> str | None:
        with httpx.Client(timeout=10) as http:
            response = http.post(
                f"{url}/api/event",
                json=beacon(url=path),
                headers={"user-agent": CHROME, "x-forwarded-for": LYON_ORANGE},
            )
        return path if response.status_code == 202 else None

    with ThreadPoolExecutor(16) as pool:
        return [path for path in pool.map(post, paths) if path]


def test_sigkill_after_202_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    # A long flush interval keeps the last events in the open segment when the kill comes.
    env = environment(
        tmp_path / "data", geo_files, AUDIENCE_FLUSH_INTERVAL="0.7", AUDIENCE_RATE_LIMIT="0"
    )
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))

    first = ServerProcess(env, tmp_path / "first.log")
    first.wait_ready()
    accepted = post_all(first.url, [f"/before/{i}" for i in range(BEACONS // 2)])
    time.sleep(1.0)  # some batches reach ClickHouse, the rest waits in the spool
    accepted += post_all(first.url, [f"/last/{i}" for i in range(BEACONS // 2)])
    assert first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert len(accepted) == BEACONS
    pending = list(settings.spool_dir.rglob("*.open")) + list(settings.spool_dir.rglob("*.seg"))
    assert pending, "the kill came after everything was written: the test proves nothing"

    second = ServerProcess(env, tmp_path / "second.log")
    second.wait_ready()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        metrics = httpx.get(f"{second.url}/metrics").text
        if "audience_spool_bytes 0" in metrics and list(settings.spool_dir.rglob("*.seg")) == []:
            break
        time.sleep(0.2)
    assert second.stop() in (0, -signal.SIGTERM)  # uvicorn re-raises SIGTERM once shut down
    assert "Application shutdown complete" in second.log_path.read_text()

    rows = query_stopped_store(settings, "SELECT path FROM audience.events")
    stored = Counter(row["path"] for row in rows)
    assert set(stored) == set(accepted)
    assert max(stored.values()) == 1
    assert len(rows) == BEACONS
