"""``audience serve --workers 2``: HTTP workers spool, the parent alone owns the store."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from collector.settings import Settings
from collector.sites import Site
from tests.conftest import (
    CHROME,
    GeoFiles,
    ServerProcess,
    beacon,
    environment,
    query_stopped_store,
    register,
)


def test_two_workers_hand_their_events_to_one_writer(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0")
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    server = ServerProcess(env, tmp_path / "server.log", "--workers", "2")
    server.wait_ready()
    with httpx.Client(base_url=server.url, headers={"user-agent": CHROME}) as client:
        for i in range(60):
            # A new connection each time lets the kernel spread them over both workers.
            response = httpx.post(
                f"{server.url}/api/event",
                json=beacon(url=f"/w/{i}"),
                headers={"user-agent": CHROME, "connection": "close"},
            )
            assert response.status_code == 202
        ready = client.get("/readyz").json()
        assert ready == {"ready": True, "checks": {"spool": True}}
    time.sleep(0.5)
    workers_seen = {p.name for p in settings.spool_dir.iterdir() if p.is_dir()}
    assert len(workers_seen) == 2  # one spool directory per worker process
    server.stop()
    assert "Started parent process" in server.log_path.read_text()

    rows = query_stopped_store(settings, "SELECT path FROM audience.events")
    assert sorted(row["path"] for row in rows) == sorted(f"/w/{i}" for i in range(60))
