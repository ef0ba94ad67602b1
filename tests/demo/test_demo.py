"""``audience serve --demo``: a dashboard full of realistic data within seconds of starting."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx

from tests.conftest import ServerProcess

PASSWORD_LINE = re.compile(r"sign in at /login as (\S+) with the password (\S+)")


def test_demo_fills_the_dashboard_within_seconds(tmp_path: Path) -> None:
    env = {"AUDIENCE_DATA_DIR": str(tmp_path / "data"), "AUDIENCE_LOG_LEVEL": "info"}
    server = ServerProcess(env, tmp_path / "serve.log", "--demo")
    try:
        started = time.monotonic()
        server.wait_ready(timeout=90)
        found = PASSWORD_LINE.search((tmp_path / "serve.log").read_text())
        assert found, "the demo prints how to sign in"
        email, password = found.groups()
        with httpx.Client(base_url=server.url, timeout=30) as http:
            form = {"email": email, "password": password}
            signed_in = http.post("/login", data=form, headers={"origin": server.url})
            assert signed_in.status_code == 303
            visitors = 0
            while visitors < 500 and time.monotonic() - started < 120:
                page = http.get("/sites/demo.example?period=30d&format=json").json()
                visitors = page["summary"]["current"]["visitors"]
                time.sleep(1)
            waited = time.monotonic() - started
            assert visitors >= 500, f"{visitors} visitors after {waited:.0f} s"
            cities = {row["label"] for row in page["breakdowns"]["city"]["rows"]}
            assert {"Paris", "Lyon"} <= cities
            assert page["breakdowns"]["operator"]["rows"][0]["visitors"] > 0
            assert page["summary"]["current"]["bounce_rate"] > 0
            assert any(p["visits"] for p in page["timeseries"]["current"])
            assert http.get("/sites/demo.example").status_code == 200
    finally:
        assert server.stop() in (0, -15)
