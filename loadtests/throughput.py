"""Maximum throughput of the collector, as a ratio to a bare uvicorn app measured in the same run.

    python -m loadtests.throughput --seconds 10 --rounds 3 --connections 50

Three servers run side by side on 127.0.0.1: the bare ASGI app of ``loadtests.bare`` (read the
body, answer 204), ``audience serve`` with one process (HTTP, pipeline, durable spool and the
writer into the embedded ClickHouse), and ``audience serve --workers 2``. wrk (one thread,
keep-alive connections) sends the same realistic beacons to each in turn, round after round, so
the machine's noise hits all three alike. Before each run, the previous run's spool is drained
and the servers have gone quiet (a collector's ClickHouse keeps merging for a while after a run);
the drain time after a run counts against the collector: its "stored/s" is the events stored
divided by the time from the run's start until the spool was empty again.

Afterwards the collectors are stopped and their stores opened: the rows stored must equal the
events the collectors accepted, and every 202 wrk counted. Each collector's events per spool
commit (one fdatasync) are printed too: a figure that falls from about a hundred to a handful
means the group commit broke, and every request pays for it.

With ``--before CHECKOUT`` (another checkout of the project, such as a git worktree of the commit
before a change), that checkout's one-process collector runs too, as a fourth server in the same
rounds, so that a change is measured against its predecessor under the same noise; its site is
registered with its own CLI. ``--before-python`` names the interpreter of an environment that
has that checkout's dependencies (the default is this one). The pairs of rounds are compared too
(geometric means of stored/s and of the CPU per request, the drain included): the noise of a
shared machine moves whole minutes, and a pair runs within one.

With ``--profile DIR``, py-spy samples the one-process collector during its runs and the summary
of where the time goes (own time by function, and time under each pipeline step) is printed.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from collector.demo.traffic import USER_AGENTS, networks
from collector.ops.metrics import SNAPSHOT_SECONDS
from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from loadtests import profile
from loadtests.harness import collector_environment, free_port, register_site, wait_ready

SITE = "bench.example"
PAGES = ("/", "/pricing", "/blog/ssr", "/blog/consent", "/docs/install", "/docs/api", "/about")
DISTINCT_REQUESTS = 2_000
QUIET_WINDOW_SECONDS = 1.0
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Measure:
    """One wrk run against one server."""

    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    statuses: dict[str, int]
    socket_errors: int
    cpu_seconds: float
    drain_seconds: float = 0.0
    # From the run's start until the spool was empty again: the writer's inserts included.
    whole_cpu_seconds: float = 0.0

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    @property
    def accepted(self) -> int:
        return self.statuses.get("202", 0)

    @property
    def stored_per_second(self) -> float:
        return self.accepted / (self.seconds + self.drain_seconds)


@dataclass
class Server:
    name: str
    command: list[str]
    env: dict[str, str]
    ready_path: str
    port: int
    spool: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    measures: list[Measure] = field(default_factory=list)
    cwd: Path | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def prepared_collector_env(data_dir: Path) -> dict[str, str]:
    """A fresh data directory with GeoIP databases and the benchmark site registered."""
    environ = collector_environment(data_dir)
    register_site(environ, Site(SITE, origins=(f"https://{SITE}",)))
    return environ


def before_collector(checkout: Path, python: str, data_dir: Path, port: int) -> Server:
    """The one-process collector of another checkout, its site registered by its own CLI."""
    checkout = checkout.resolve()
    environ = collector_environment(data_dir) | {"PYTHONPATH": str(checkout)}
    add_site = [python, "-m", "collector.cli", "sites", "add", SITE, "--origin", f"https://{SITE}"]
    subprocess.run(add_site, cwd=checkout, env=_process_env(environ), check=True)
    return Server(
        f"before: {checkout.name} (1 process)",
        [python, "-m", "collector.cli", "serve", "--port", str(port)],
        environ,
        "/readyz",
        port,
        spool=data_dir / "spool",
        cwd=checkout,
    )


def _process_env(server_env: dict[str, str]) -> dict[str, str]:
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    return inherited | server_env


def beacon_requests(count: int, seed: int = 7) -> list[tuple[dict[str, str], str]]:
    """(headers, body) of realistic first beacons: browsers, cities, operators, pages."""
    chooser = random.Random(seed)
    agents = [agent for agent, _ in USER_AGENTS]
    weights = [weight for _, weight in USER_AGENTS]
    blocks = list(networks())
    requests = []
    for _ in range(count):
        block = ipaddress.ip_network(chooser.choice(blocks))
        address = str(block[chooser.randrange(1, block.num_addresses - 1)])
        engagement = chooser.random() < 0.3
        body = {
            "site": SITE,
            "type": "engagement" if engagement else "pageview",
            "url": f"https://{SITE}{chooser.choice(PAGES)}?utm_source=bench",
            "consent": "manual",
        } | ({"engaged_ms": chooser.randrange(500, 90_000)} if engagement else {})
        headers = {
            "Content-Type": "text/plain;charset=UTF-8",
            "Origin": f"https://{SITE}",
            "User-Agent": chooser.choices(agents, weights)[0],
            "X-Forwarded-For": address,
        }
        requests.append((headers, json.dumps(body, separators=(",", ":"))))
    return requests


def wrk_script(requests: list[tuple[dict[str, str], str]]) -> str:
    """A wrk Lua script cycling over ``requests``, counting statuses, printing JSON at the end."""

    def lua(text: str) -> str:
        return json.dumps(text)  # a JSON string is a valid Lua string literal here (ASCII)

    entries = []
    for headers, body in requests:
        pairs = ", ".join(f"[{lua(k)}] = {lua(v)}" for k, v in headers.items())
        entries.append(f"{{ {{ {pairs} }}, {lua(body)} }}")
    return "local sources = {\n" + ",\n".join(entries) + "\n}\n" + _WRK_LOGIC


_WRK_LOGIC = """
local prepared, next_index = {}, 0
statuses = {}
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for i, source in ipairs(sources) do
    prepared[i] = wrk.format("POST", "/api/event", source[1], source[2])
  end
  next_index = math.random(#prepared)
end

function request()
  next_index = next_index % #prepared + 1
  return prepared[next_index]
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local counted = {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do
      counted[tostring(status)] = (counted[tostring(status)] or 0) + n
    end
  end
  local parts = {}
  for status, n in pairs(counted) do
    table.insert(parts, string.format('"%s": %d', status, n))
  end
  local errors = summary.errors
  io.write(string.format(
    'WRK-RESULT {"requests": %d, "micros": %d, "p50": %d, "p99": %d, "socket_errors": %d, '
    .. '"statuses": {%s}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    errors.connect + errors.read + errors.write + errors.timeout, table.concat(parts, ", ")))
end
"""


def cpu_seconds(root_pid: int) -> float:
    """User + system CPU time of a process and its descendants (from /proc)."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            stat = Path(entry.path, "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / CLOCK_TICKS
    family, frontier = {root_pid}, [root_pid]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        family.update(children)
        frontier += children
    return sum(times.get(pid, 0.0) for pid in family)


@contextmanager
def running(server: Server, log_dir: Path) -> Iterator[Server]:
    log_name = "".join(c if c.isalnum() else "-" for c in server.name)
    with (log_dir / f"{log_name}.log").open("ab") as log:
        server.process = subprocess.Popen(
            server.command,
            env=_process_env(server.env),
            cwd=server.cwd,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_ready(server.url + server.ready_path, server.process)
            yield server
        finally:
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(120)


def wait_quiet(servers: tuple[Server, ...], timeout: float = 60) -> None:
    """Until the servers together use under a tenth of a core: a collector's ClickHouse merges its
    parts for a while after a run, and would slow the next server measured."""
    pids = [server.process.pid for server in servers if server.process is not None]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = sum(cpu_seconds(pid) for pid in pids)
        time.sleep(QUIET_WINDOW_SECONDS)
        if sum(cpu_seconds(pid) for pid in pids) - before < 0.1 * QUIET_WINDOW_SECONDS:
            return
    print(f"the servers were still busy after {timeout:.0f} s; measuring anyway", flush=True)


def wait_drained(server: Server, timeout: float = 300) -> float:
    """Seconds until the collector's spool holds nothing but empty open segments."""
    if server.spool is None:
        return 0.0
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        pending = [
            path
            for path in server.spool.rglob("*")
            if path.suffix == ".seg" or (path.suffix == ".open" and path.stat().st_size > 0)
        ]
        if not pending:
            return time.monotonic() - started
        time.sleep(0.05)
    raise SystemExit(f"{server.name}: the spool did not drain in {timeout:.0f} s")


def run_wrk(server: Server, script: Path, seconds: float, connections: int) -> Measure:
    assert server.process is not None
    cpu_before = cpu_seconds(server.process.pid)
    output = subprocess.run(
        [
            "wrk", "--threads", "1", "--connections", str(connections),
            "--duration", f"{seconds:g}s", "--timeout", "5s", "--script", str(script),
            server.url + "/api/event",
        ],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    cpu = cpu_seconds(server.process.pid) - cpu_before
    line = next(line for line in output.splitlines() if line.startswith("WRK-RESULT "))
    result = json.loads(line.removeprefix("WRK-RESULT "))
    return Measure(
        requests=result["requests"],
        seconds=result["micros"] / 1e6,
        p50_ms=result["p50"] / 1000,
        p99_ms=result["p99"] / 1000,
        statuses=result["statuses"],
        socket_errors=result["socket_errors"],
        cpu_seconds=cpu,
    )


def stored_rows(env: dict[str, str]) -> int:
    settings = Settings.from_environ(env)
    store = Store.connect(settings.clickhouse_url)
    try:
        rows = store.query_dicts("SELECT count() AS n FROM audience.events")
    finally:
        store.close()
    return int(rows[0]["n"])


def collector_metrics(server: Server) -> dict[str, float]:
    """The collector's /metrics (summed over its processes), the samples without labels."""
    text = httpx.get(server.url + "/metrics", timeout=5).text
    samples = (line.split() for line in text.splitlines() if line and not line.startswith("#"))
    return {sample[0]: float(sample[1]) for sample in samples if len(sample) == 2}


def accepted_total(metrics: dict[str, float], server: Server) -> int:
    """The collector's own count of 202s."""
    if "audience_events_accepted_total" not in metrics:
        raise SystemExit(f"{server.name}: /metrics has no audience_events_accepted_total")
    return int(metrics["audience_events_accepted_total"])


def records_per_commit(metrics: dict[str, float]) -> float:
    """How many appends one fdatasync of the spool made durable, on average: the group commit
    that lets a collector answer thousands of beacons a second from one disk."""
    commits = metrics.get("audience_spool_commit_records_count", 0.0)
    return metrics.get("audience_spool_commit_records_sum", 0.0) / commits if commits else 0.0


def check_stored(server: Server, accepted: int) -> bool:
    """Rows stored == events the collector accepted >= 202s wrk counted (wrk drops the answers
    still in flight when it stops)."""
    counted = sum(m.accepted for m in server.measures)
    stored = stored_rows(server.env)
    equal = stored == accepted and counted <= accepted
    print(
        f"{server.name}: {counted:,} answers 202 counted by wrk, {accepted:,} accepted by the "
        f"collector, {stored:,} rows stored: {'equal' if equal else 'MISMATCH'}"
    )
    return equal


def summary_line(server: Server, baseline: float) -> str:
    measures = server.measures
    rate = statistics.median(m.per_second for m in measures)
    stored = statistics.median(m.stored_per_second for m in measures) if server.spool else rate
    p50 = statistics.median(m.p50_ms for m in measures)
    p99 = max(m.p99_ms for m in measures)
    cpu_us = sum(m.cpu_seconds for m in measures) / sum(m.requests for m in measures) * 1e6
    whole_us = sum(m.whole_cpu_seconds for m in measures) / sum(m.requests for m in measures) * 1e6
    statuses: dict[str, int] = {}
    for measure in measures:
        for status, count in measure.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    return (
        f"{server.name:<30} {rate:>9,.0f} req/s  {stored:>9,.0f} stored/s  "
        f"ratio {stored / baseline:>5.2f}  p50 {p50:5.2f} ms  p99 {p99:6.2f} ms  "
        f"CPU {cpu_us:6.0f} µs/request ({whole_us:.0f} with the drain)  statuses {statuses}"
    )


def paired_line(server: Server, before: Server) -> str:
    """The collector over the before checkout, round by round: each pair ran back to back, so
    the machine's slower and faster minutes cancel out of the geometric mean."""
    pairs = [
        (now.stored_per_second / then.stored_per_second, now.whole_cpu_seconds / now.requests,
         then.whole_cpu_seconds / then.requests)
        for now, then in zip(server.measures, before.measures, strict=True)
    ]  # fmt: skip
    rates = ", ".join(f"{rate:.2f}" for rate, _, _ in pairs)
    rate = statistics.geometric_mean(rate for rate, _, _ in pairs)
    cpu = statistics.geometric_mean(now / then for _, now, then in pairs)
    return (
        f"{server.name} over {before.name}, round by round: stored/s {rate:.2f} ({rates}); "
        f"CPU per request with the drain {cpu:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each wrk run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="the multi-process collector's N")
    parser.add_argument("--profile", type=Path, help="py-spy the one-process collector into DIR")
    parser.add_argument("--before", type=Path, help="another checkout's collector, measured too")
    parser.add_argument("--before-python", default=sys.executable, help="its interpreter")
    arguments = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    work = Path(tempfile.mkdtemp(prefix="audience-throughput-"))
    script = work / "beacons.lua"
    script.write_text(wrk_script(beacon_requests(DISTINCT_REQUESTS)))
    serve = [sys.executable, "-m", "collector.cli", "serve", "--port"]
    ports = [free_port() for _ in range(4)]
    single = Server(
        "collector (1 process)",
        [*serve, str(ports[0])],
        prepared_collector_env(work / "single"),
        "/readyz",
        ports[0],
        spool=work / "single" / "spool",
    )
    multi = Server(
        f"collector (--workers {arguments.workers})",
        [*serve, str(ports[1]), "--workers", str(arguments.workers)],
        prepared_collector_env(work / "multi"),
        "/readyz",
        ports[1],
        spool=work / "multi" / "spool",
    )
    bare = Server(
        "bare uvicorn 204",
        [sys.executable, "-m", "uvicorn", "loadtests.bare:app", "--port", str(ports[2]),
         "--no-access-log", "--lifespan", "off", "--log-level", "warning"],
        {},
        "/",
        ports[2],
    )  # fmt: skip
    collectors = [single, multi]
    if arguments.before:
        before = before_collector(
            arguments.before, arguments.before_python, work / "before", ports[3]
        )
        collectors.append(before)
    servers = (bare, *collectors)
    print(f"work directory: {work}", flush=True)
    with ExitStack() as stack:
        for server in servers:
            stack.enter_context(running(server, work))
        sampler = None
        if arguments.profile:
            assert single.process is not None
            sampler = profile.Sampler(single.process.pid, arguments.profile)
        for round_number in range(1, arguments.rounds + 1):
            for server in servers:
                wait_drained(server)
                wait_quiet(servers)
                started = time.monotonic()
                assert server.process is not None
                cpu_at_start = cpu_seconds(server.process.pid)
                if sampler and server is single:
                    sampler.start()
                measure = run_wrk(server, script, arguments.seconds, arguments.connections)
                if sampler and server is single:
                    sampler.stop()
                measure.drain_seconds = wait_drained(server) if server.spool else 0.0
                measure.whole_cpu_seconds = cpu_seconds(server.process.pid) - cpu_at_start
                server.measures.append(measure)
                print(
                    f"round {round_number} {server.name:<30} {measure.per_second:>9,.0f} req/s "
                    f"p99 {measure.p99_ms:6.2f} ms drain {measure.drain_seconds:4.1f} s "
                    f"({time.monotonic() - started:.0f} s)",
                    flush=True,
                )
        time.sleep(2 * SNAPSHOT_SECONDS)  # the workers' last metrics snapshots
        metrics = {server.name: collector_metrics(server) for server in collectors}
    baseline = statistics.median(m.per_second for m in bare.measures)
    print()
    for server in servers:
        print(summary_line(server, baseline))
    if arguments.before:
        print(paired_line(single, before))
    print()
    for server in collectors:
        grouped = records_per_commit(metrics[server.name])
        print(f"{server.name}: {grouped:,.1f} events per spool commit (fdatasync)")
    accepted = {server.name: accepted_total(metrics[server.name], server) for server in collectors}
    matches = [check_stored(server, accepted[server.name]) for server in collectors]
    single_rate = statistics.median(m.stored_per_second for m in single.measures)
    multi_rate = statistics.median(m.stored_per_second for m in multi.measures)
    print(f"stored/s of {multi.name} over 1 process: {multi_rate / single_rate:.2f}")
    if sampler:
        print("\n" + sampler.summary())
    if not all(matches):
        raise SystemExit("stored rows do not match the accepted events")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
