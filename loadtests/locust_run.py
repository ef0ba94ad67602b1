"""Load a collector with locust, then check that ClickHouse stored exactly what it accepted.

    python -m loadtests.locust_run --users 50 --spawn-rate 10 --run-time 60s

It makes a fresh data directory (or uses ``--data-dir``), writes GeoIP databases for the networks
of ``collector.demo.traffic``, registers the load-test site and starts ``audience serve`` trusting
``X-Forwarded-For`` from 127.0.0.1, with no rate limit. locust runs ``loadtests/locustfile.py``
against it, headless; the locustfile writes its tally of the beacons accepted (202, empty body) when
the test stops. The collector is then stopped with SIGTERM (it drains its spool into the store)
and the embedded store opened: this run's rows, by type, must equal the tally, and their distinct
visitors the cookies given. It prints a short report (``--report PATH`` also writes it as JSON)
and exits non-zero on a mismatch, a locust failure or a collector that did not stop cleanly.
Options after ``--`` go to locust and the locustfile: ``-- --bad-share 0.3 --consent-rate 0.5``.

Against collectors already running (the site registered, this machine among their trusted
proxies, no rate limit), ``--host URL --clickhouse-url http://user:password@host:8123/`` counts
the rows on the ClickHouse server once they stop changing; without ``--clickhouse-url`` only
locust's checks of the answers are made.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from collector.settings import Settings, SettingsError
from collector.storage.errors import StoreError
from collector.storage.sites import Site
from collector.storage.store import Store
from loadtests.harness import collector_environment, free_port, register_site, wait_ready

LOCUSTFILE = Path(__file__).with_name("locustfile.py")
SITE = "loadtest.example"
TYPES = ("pageview", "engagement")
VISIT_KINDS = ("new", "returning", "silent", "crawler", "no_consent", "malformed")
READY_SECONDS = 60
STOP_SECONDS = 60
SETTLE_SECONDS = 10  # a ClickHouse server's count is final once unchanged this long
RUN_ROWS = "FROM audience.events WHERE site = {site:String} AND startsWith(path, {prefix:String})"
LOG_LINES_SHOWN = 20


@dataclass(frozen=True)
class Stored:
    """This run's rows in ClickHouse."""

    events: dict[str, int]
    visitors: int
    unlocated: int  # rows without a city: an address the GeoIP databases do not know


@dataclass
class Report:
    users: int
    run_time: str
    requests: int = 0
    failures: int = 0
    requests_per_second: float = 0.0
    accepted: dict[str, int] = field(default_factory=dict)
    stored: dict[str, int] | None = None
    visitors_given_a_cookie: int = 0
    visitors_stored: int | None = None
    unlocated: int | None = None
    other_answers: dict[str, int] = field(default_factory=dict)
    visits: dict[str, int] = field(default_factory=dict)
    silent_pages: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--spawn-rate", type=float, default=10)
    parser.add_argument("--run-time", default="60s", help="locust's --run-time: 60s, 5m...")
    parser.add_argument("--think-time", type=float, default=2.0, help="median seconds on a page")
    parser.add_argument("--site", default=SITE, help="the site the beacons are for")
    parser.add_argument("--data-dir", type=Path, help="default: a fresh temporary directory")
    parser.add_argument("--host", help="a running collector's URL instead of starting one")
    parser.add_argument("--clickhouse-url", help="with --host: its ClickHouse server, to check")
    parser.add_argument("--report", type=Path, help="also write the report here as JSON")
    parser.add_argument(
        "locust_options",
        nargs="*",
        help="after --: more options for locust and the locustfile (-- --bad-share 0.3)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.clickhouse_url and not arguments.host:
        raise SystemExit("--clickhouse-url goes with --host (a collector you run)")
    report = Report(arguments.users, arguments.run_time)
    with tempfile.TemporaryDirectory(prefix="audience-locust-") as scratch:
        try:
            if arguments.host:
                run_against_running_collector(arguments, Path(scratch), report)
            else:
                run_against_own_collector(arguments, arguments.data_dir or Path(scratch), report)
        except (SettingsError, StoreError) as error:
            print(f"locust_run: error: {error}", file=sys.stderr)
            return 2
    print_report(report)
    if arguments.report:
        arguments.report.write_text(json.dumps(asdict(report) | {"ok": report.ok}, indent=2))
    return 0 if report.ok else 1


def run_against_own_collector(
    arguments: argparse.Namespace, data_dir: Path, report: Report
) -> None:
    environ = collector_environment(data_dir)
    settings = Settings.from_environ(environ)
    register_site(environ, Site(arguments.site))
    log_path = data_dir / "collector.log"
    with log_path.open("ab") as log, running_collector(environ, log) as (url, process):
        marker = run_locust(arguments, url, data_dir, report)
        code = stop(process)
    if code not in (0, -signal.SIGTERM):  # uvicorn re-raises SIGTERM once shut down
        report.problems.append(f"the collector exited with {code}")
    stored = count_stored(settings.clickhouse_url, arguments.site, marker)
    compare(stored, report, geolocated=True)
    if report.problems:
        show_log_tail(log_path)


def run_against_running_collector(
    arguments: argparse.Namespace, scratch: Path, report: Report
) -> None:
    marker = run_locust(arguments, arguments.host, scratch, report)
    if arguments.clickhouse_url:
        stored = settled_count(arguments.clickhouse_url, arguments.site, marker, report)
        compare(stored, report, geolocated=False)


@contextmanager
def running_collector(
    environ: dict[str, str], log: IO[bytes]
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``audience serve`` on a free port of 127.0.0.1, ready; killed if still running at exit."""
    port = free_port()
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    command = [sys.executable, "-m", "collector.cli", "serve", "--port", str(port)]
    process = subprocess.Popen(command, env=inherited | environ, stdout=log, stderr=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_ready(f"{url}/readyz", process)
        yield url, process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def show_log_tail(log_path: Path) -> None:
    lines = log_path.read_text(errors="replace").splitlines()[-LOG_LINES_SHOWN:]
    if lines:
        print(f"last lines of {log_path.name}:", *lines, sep="\n", file=sys.stderr)


def stop(process: subprocess.Popen[bytes]) -> int:
    """SIGTERM: the collector seals its spool and its writer drains it into the store."""
    process.send_signal(signal.SIGTERM)
    return process.wait(STOP_SECONDS)


def run_locust(arguments: argparse.Namespace, url: str, scratch: Path, report: Report) -> str:
    """Run the locustfile headless against ``url``; fill the report from its tally; the marker."""
    marker = f"lt-{secrets.token_hex(4)}"
    tally_path = scratch / f"tally-{marker}.json"
    command = [
        *(sys.executable, "-m", "locust", "-f", str(LOCUSTFILE), "--headless", "--only-summary"),
        *("--users", str(arguments.users), "--spawn-rate", str(arguments.spawn_rate)),
        *("--run-time", arguments.run_time, "--host", url),
        *("--audience-site", arguments.site, "--run-marker", marker),
        *("--think-time", str(arguments.think_time), "--tally-file", str(tally_path)),
        *arguments.locust_options,
    ]
    code = subprocess.run(command, check=False).returncode
    if code != 0:
        report.problems.append(f"locust exited with {code}")
    if not tally_path.exists():
        report.problems.append("locust wrote no tally")
        return marker
    read_tally(json.loads(tally_path.read_text()), report)
    return marker


def read_tally(tally: dict[str, Any], report: Report) -> None:
    report.requests = tally["requests"]
    report.failures = tally["failures"]
    report.requests_per_second = tally["requests_per_second"]
    report.accepted = {kind: tally["accepted"][kind] for kind in TYPES}
    report.visitors_given_a_cookie = tally["visitors"]
    report.other_answers = tally["answers"]
    report.visits = tally["visits"]
    report.silent_pages = tally["silent_pages"]
    if report.failures:
        report.problems.append(f"{report.failures} answers were not the expected ones")


def count_stored(clickhouse_url: str, site: str, marker: str) -> Stored:
    """This run's rows: those of the site whose path starts with the run's marker."""
    parameters = {"site": site, "prefix": f"/{marker}/"}
    store = Store.connect(clickhouse_url)
    try:
        by_type = store.query_dicts(
            f"SELECT type, count() AS n {RUN_ROWS} GROUP BY type", parameters
        )
        [whole] = store.query_dicts(
            f"SELECT uniqExact(visitor) AS visitors, countIf(city = '') AS unlocated {RUN_ROWS}",
            parameters,
        )
    finally:
        store.close()
    events = {kind: 0 for kind in TYPES} | {row["type"]: row["n"] for row in by_type}
    return Stored(events, whole["visitors"], whole["unlocated"])


def settled_count(clickhouse_url: str, site: str, marker: str, report: Report) -> Stored:
    """The count once it equals the tally, or once it has not changed for SETTLE_SECONDS."""
    stored = count_stored(clickhouse_url, site, marker)
    unchanged_since = time.monotonic()
    while stored.events != report.accepted:
        if time.monotonic() - unchanged_since > SETTLE_SECONDS:
            break
        time.sleep(1)
        latest = count_stored(clickhouse_url, site, marker)
        if latest != stored:
            stored, unchanged_since = latest, time.monotonic()
    return stored


def compare(stored: Stored, report: Report, *, geolocated: bool) -> None:
    report.stored = stored.events
    report.visitors_stored = stored.visitors
    report.unlocated = stored.unlocated
    if stored.events != report.accepted:
        report.problems.append(f"stored {stored.events} != accepted {report.accepted}")
    if stored.visitors != report.visitors_given_a_cookie:
        report.problems.append(
            f"{stored.visitors} visitors stored != {report.visitors_given_a_cookie} given a cookie"
        )
    if geolocated and stored.unlocated:
        report.problems.append(f"{stored.unlocated} rows without a city")


def print_report(report: Report) -> None:
    def kinds(counts: dict[str, int]) -> str:
        listed = ", ".join(f"{counts.get(kind, 0):,} {kind}s" for kind in TYPES)
        return f"{sum(counts.values()):,} ({listed})"

    print(
        f"locust: {report.users} users for {report.run_time}: {report.requests:,} requests,"
        f" {report.requests_per_second:,.1f} requests/s, {report.failures:,} failures"
    )
    print(f"accepted: {kinds(report.accepted)}")
    if report.stored is not None:
        equal = "equal" if report.stored == report.accepted else "NOT EQUAL"
        print(f"stored:   {kinds(report.stored)}: {equal}")
        print(
            f"visitors: {report.visitors_given_a_cookie:,} given a cookie,"
            f" {report.visitors_stored:,} stored; {report.unlocated:,} rows without a city"
        )
    else:
        print("stored:   not checked (no --clickhouse-url)")
    others = ", ".join(f"{count:,} {answer}" for answer, count in report.other_answers.items())
    print(f"other answers: {others or 'none'}")
    visits = ", ".join(f"{report.visits.get(kind, 0):,} {kind}" for kind in VISIT_KINDS)
    print(f"visits: {visits} ({report.silent_pages:,} silent pages: no consent, nothing sent)")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    print("result: " + ("OK" if report.ok else "FAILED"))


if __name__ == "__main__":
    sys.exit(main())
