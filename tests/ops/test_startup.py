"""``audience serve`` under every combination of its on-disk settings: it gets ready, or it stops
with one line naming the variable, never a traceback; and what it makes on disk is private.

Each row is a real ``audience serve`` process in a fresh directory, started as a user starts it.
The rows that must get ready: AUDIENCE_DATA_DIR unset, set to a missing directory or to an
existing one, and AUDIENCE_SECRET_KEY, AUDIENCE_SPOOL_DIR, AUDIENCE_CLICKHOUSE_URL and the GeoIP
variables set or unset. Of their 48 combinations, the rows are a covering array of strength 3:
whatever three of the five variables, every combination of their values is in some row (18
rows; none set and all set among them). What settings do together comes from two or three of
them (a spool inside or outside a data directory that exists or not), and each row is a
process's start, seconds of CPU. Then each unusable value of one of them, with the others unset
and with the others set, all of which must stop naming that variable.
"""

from __future__ import annotations

import itertools
import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SECRET, GeoFiles, free_port

READY_SECONDS = 60.0
PARALLEL = 3

# A value of one variable, made in a row's directory: the variables to set (none: unset).
Value = Callable[[Path, GeoFiles], dict[str, str]]


def unset(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {}


def in_the_way(path: Path) -> Path:
    """A path that cannot be a directory: a regular file stands where its parent should be
    (permission bits do not stop root, a file in the way does)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    blocker = path / "blocked"
    path.write_text("a file, not a directory\n")
    return blocker


def data_dir_existing(root: Path, geo: GeoFiles) -> dict[str, str]:
    (root / "data").mkdir(mode=0o755)
    return {"AUDIENCE_DATA_DIR": str(root / "data")}


def data_dir_missing(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_DATA_DIR": str(root / "not" / "yet" / "data")}


def data_dir_unwritable(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_DATA_DIR": str(in_the_way(root / "file"))}


def data_dir_is_a_file(root: Path, geo: GeoFiles) -> dict[str, str]:
    (root / "data").write_text("a file\n")
    return {"AUDIENCE_DATA_DIR": str(root / "data")}


def secret_set(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_SECRET_KEY": SECRET}


def secret_short(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_SECRET_KEY": "short"}


def spool_missing(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_SPOOL_DIR": str(root / "elsewhere" / "spool")}


def spool_unwritable(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_SPOOL_DIR": str(in_the_way(root / "spool-file"))}


def store_missing(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_CLICKHOUSE_URL": f"chdb://{root / 'stores' / 'audience'}"}


def store_unwritable(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_CLICKHOUSE_URL": f"chdb://{in_the_way(root / 'store-file')}"}


def store_unreachable(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_CLICKHOUSE_URL": "http://127.0.0.1:1/"}


def store_bad_scheme(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_CLICKHOUSE_URL": "postgres://127.0.0.1/audience"}


def geoip_set(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_GEOIP_CITY": str(geo.city), "AUDIENCE_GEOIP_OPERATOR": str(geo.isp)}


def geoip_missing(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_GEOIP_CITY": str(root / "no-such.mmdb")}


def geoip_corrupt(root: Path, geo: GeoFiles) -> dict[str, str]:
    (root / "corrupt.mmdb").write_bytes(geo.city.read_bytes()[:300])
    return {"AUDIENCE_GEOIP_CITY": str(root / "corrupt.mmdb")}


def geoip_wrong_kind(root: Path, geo: GeoFiles) -> dict[str, str]:
    return {"AUDIENCE_GEOIP_OPERATOR": str(geo.city)}


USABLE: dict[str, tuple[Value, ...]] = {
    "AUDIENCE_DATA_DIR": (unset, data_dir_missing, data_dir_existing),
    "AUDIENCE_SECRET_KEY": (unset, secret_set),
    "AUDIENCE_SPOOL_DIR": (unset, spool_missing),
    "AUDIENCE_CLICKHOUSE_URL": (unset, store_missing),
    "AUDIENCE_GEOIP": (unset, geoip_set),
}
UNUSABLE: dict[str, tuple[Value, ...]] = {
    "AUDIENCE_DATA_DIR": (data_dir_unwritable, data_dir_is_a_file),
    "AUDIENCE_SECRET_KEY": (secret_short,),
    "AUDIENCE_SPOOL_DIR": (spool_unwritable,),
    "AUDIENCE_CLICKHOUSE_URL": (store_unwritable, store_unreachable, store_bad_scheme),
    "AUDIENCE_GEOIP": (geoip_missing, geoip_corrupt, geoip_wrong_kind),
}


@dataclass(frozen=True)
class Row:
    values: tuple[Value, ...]  # one per variable, in the order of USABLE
    fails_on: str | None = None  # the variable the error must name

    @property
    def name(self) -> str:
        return "+".join(value.__name__ for value in self.values if value is not unset) or "none"


STRENGTH = 3


def _triples(values: tuple[Value, ...]) -> set[tuple[tuple[int, ...], tuple[Value, ...]]]:
    """The (variables, values) of every three variables of a row."""
    return {
        (chosen, tuple(values[index] for index in chosen))
        for chosen in itertools.combinations(range(len(values)), STRENGTH)
    }


def usable_rows() -> list[Row]:
    """A covering array of strength 3, built greedily: none set, all set, then each time the
    combination that covers the most triples not yet covered (the first of them in order)."""
    candidates = list(itertools.product(*USABLE.values()))
    chosen = [candidates[0], candidates[-1]]
    uncovered = set().union(*map(_triples, candidates)) - set().union(*map(_triples, chosen))
    while uncovered:
        best = max(candidates, key=lambda values: len(_triples(values) & uncovered))
        chosen.append(best)
        uncovered -= _triples(best)
    return [Row(values) for values in chosen]


def unusable_rows() -> list[Row]:
    rows = []
    variables = list(USABLE)
    for variable, bad_values in UNUSABLE.items():
        index = variables.index(variable)
        others_set = [values[-1] for values in USABLE.values()]
        for bad in bad_values:
            for others in ([unset] * len(variables), others_set):
                values = list(others)
                values[index] = bad
                rows.append(Row(tuple(values), fails_on=variable))
    return rows


@dataclass(frozen=True)
class Outcome:
    row: Row
    root: Path
    environ: dict[str, str]
    ready: bool
    code: int | None
    stderr: str


def start(row: Row, root: Path, geo: GeoFiles) -> Outcome:
    """``audience serve`` in ``root`` with the row's variables, until ready (then stopped) or
    exited."""
    root.mkdir(parents=True)
    chosen: dict[str, str] = {"AUDIENCE_FLUSH_INTERVAL": "0.05"}
    for value in row.values:
        chosen |= value(root, geo)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")} | chosen
    port = free_port()
    log = root / "serve.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--port", str(port)],
            cwd=root,
            env=environ,
            stdout=output,
            stderr=output,
        )
        ready = _wait_ready(process, port)
        if ready:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
    return Outcome(row, root, chosen, ready, code, log.read_text(errors="replace"))


def _wait_ready(process: subprocess.Popen[bytes], port: int) -> bool:
    # One client for all the polls: ``httpx.get`` makes a client, and its TLS context, each
    # time (some 40 ms of CPU, taken from the starting servers every 50 ms).
    deadline = time.monotonic() + READY_SECONDS
    with httpx.Client(timeout=1) as client:
        while time.monotonic() < deadline and process.poll() is None:
            try:
                if client.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                    return True
            except httpx.TransportError:
                pass
            time.sleep(0.05)
    return False


def run_rows(rows: list[Row], tmp_path: Path, geo: GeoFiles) -> list[Outcome]:
    with ThreadPoolExecutor(PARALLEL) as pool:
        return list(
            pool.map(
                lambda i_row: start(i_row[1], tmp_path / f"row{i_row[0]}", geo), enumerate(rows)
            )
        )


def test_every_usable_combination_gets_ready(tmp_path: Path, geo_files: GeoFiles) -> None:
    rows = usable_rows()
    every_value = [range(len(values)) for values in USABLE.values()]
    for chosen in itertools.combinations(range(len(USABLE)), STRENGTH):
        wanted = itertools.product(*(every_value[index] for index in chosen))
        found = {
            tuple(list(USABLE.values())[i].index(row.values[i]) for i in chosen) for row in rows
        }
        assert set(wanted) <= found, f"variables {chosen}: {set(wanted) - found} in no row"
    assert len(rows) == 18
    for outcome in run_rows(rows, tmp_path, geo_files):
        name = outcome.row.name
        assert outcome.ready, f"{name} did not get ready:\n{outcome.stderr}"
        assert "Traceback" not in outcome.stderr, f"{name}:\n{outcome.stderr}"
        data_dir = Path(outcome.environ.get("AUDIENCE_DATA_DIR", outcome.root / "data"))
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700, name
        spool = Path(outcome.environ.get("AUDIENCE_SPOOL_DIR", data_dir / "spool"))
        assert stat.S_IMODE(spool.stat().st_mode) == 0o700, name
        secret_file = data_dir / "secret.key"
        if "AUDIENCE_SECRET_KEY" in outcome.environ:
            assert not secret_file.exists(), name
        else:
            assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600, name


def test_every_unusable_value_stops_the_start_with_one_line_naming_it(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    rows = unusable_rows()
    assert len(rows) == 20
    for outcome in run_rows(rows, tmp_path, geo_files):
        name, variable = outcome.row.name, outcome.row.fails_on
        assert variable is not None
        assert not outcome.ready, f"{name} got ready"
        assert outcome.code == 2, f"{name} exited with {outcome.code}:\n{outcome.stderr}"
        assert "Traceback" not in outcome.stderr, f"{name}:\n{outcome.stderr}"
        errors = [line for line in outcome.stderr.splitlines() if line.startswith("audience: ")]
        assert len(errors) == 1, f"{name}:\n{outcome.stderr}"
        assert outcome.stderr.rstrip().endswith(errors[0]), f"{name}: the error is not last"
        named = variable if variable != "AUDIENCE_GEOIP" else "AUDIENCE_GEOIP_"
        assert errors[0].startswith(f"audience: error: {named}"), f"{name}: {errors[0]}"


@pytest.mark.parametrize("value", [data_dir_missing, data_dir_existing])
def test_reading_settings_writes_nothing(tmp_path: Path, geo_files: GeoFiles, value: Value) -> None:
    """The start step makes what a process needs; reading the settings makes nothing."""
    from collector.settings import Settings

    environ = value(tmp_path, geo_files)
    before = sorted(tmp_path.rglob("*"))
    settings = Settings.from_environ(environ)
    assert settings.secret is None
    assert sorted(tmp_path.rglob("*")) == before
