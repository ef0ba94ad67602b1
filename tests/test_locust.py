"""The locust kit end to end: ``loadtests.locust_run`` starts a real collector, runs locust for a
few seconds with a handful of users, and the store must hold exactly what was accepted."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_locust_run_stores_exactly_what_the_collector_accepted(tmp_path: Path) -> None:
    report_path = tmp_path / "report.json"
    command = [
        *(sys.executable, "-m", "loadtests.locust_run", "--users", "5", "--spawn-rate", "5"),
        *("--run-time", "8s", "--think-time", "0.3", "--data-dir", str(tmp_path / "data")),
        *("--report", str(report_path), "--", "--bad-share", "0.4"),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUDIENCE_", "LOCUST_"))}
    run = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90, check=False
    )

    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(report_path.read_text())
    assert report["ok"] and report["problems"] == []
    assert report["failures"] == 0
    assert sum(report["accepted"].values()) >= 10
    assert report["accepted"]["engagement"] > 0
    assert report["stored"] == report["accepted"]
    assert report["visitors_stored"] == report["visitors_given_a_cookie"] > 0
    assert report["unlocated"] == 0
    assert sum(report["other_answers"].values()) > 0  # bots, refusals: answered as expected
    assert "result: OK" in run.stdout
