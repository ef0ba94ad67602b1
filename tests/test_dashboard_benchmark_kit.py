"""The dashboard benchmark kit on a fresh data folder, as its docstring says to run it:
``loadtests.generate`` fills a new store through the real pipeline, then
``loadtests.dashboard_benchmark`` rolls up the closed visits and times every stats call. Small
figures (a few thousand events, one run): the commands work and tell the same story, not the
speed, which only the benchmark itself measures."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_generate_then_benchmark_on_a_fresh_data_folder(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    env["AUDIENCE_DATA_DIR"] = str(tmp_path / "data")  # nothing made in it yet
    generate = subprocess.run(
        [sys.executable, "-m", "loadtests.generate", "--events", "3000", "--days", "3"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert generate.returncode == 0, generate.stdout[-3000:] + generate.stderr[-3000:]
    played, stored = map(
        lambda n: int(n.replace(",", "")),
        re.search(r"([\d,]+) events played .*?; ([\d,]+) stored", generate.stdout).groups(),  # type: ignore[union-attr]
    )
    assert stored == played >= 2000  # the producers stop near the target, by whole visitors

    benchmark = subprocess.run(
        [sys.executable, "-m", "loadtests.dashboard_benchmark", "--runs", "1"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=180, check=False,
    )  # fmt: skip
    assert benchmark.returncode == 0, benchmark.stdout[-3000:] + benchmark.stderr[-3000:]
    assert "closed visits and funnels rolled up in" in benchmark.stdout
    assert f"{stored:,} events stored" in benchmark.stdout
    calls = ("summary", "timeseries", "breakdown/entry_page", "funnel/visit", "funnel/7d")
    for call in (*calls, "whole dashboard page"):
        assert re.search(rf"^{re.escape(call)}\s+\d+\s+\d+", benchmark.stdout, re.M), call
