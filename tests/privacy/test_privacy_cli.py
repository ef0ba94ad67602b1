"""``audience privacy``: the DPO exports and erases a visitor's data and reads the audit log."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from collector.ops.metrics import Metrics
from collector.settings import Settings
from collector.storage.erased import format_visitor_id
from collector.storage.spool_consumer import SpoolConsumer
from collector.storage.spool_records import frame
from collector.storage.store import Store
from collector.storage.writer import Writer
from tests.conftest import GeoFiles, environment
from tests.console.test_cli import audience
from tests.storage.test_writer import encoded, write_segment

ANA, BOB = 0x0123456789ABCDEF, 42


def stored_visitors(settings: Settings) -> list[int]:
    store = Store.connect(settings.clickhouse_url)
    try:
        return [r["visitor"] for r in store.query_dicts("SELECT visitor FROM audience.events")]
    finally:
        store.close()


def test_export_erase_and_the_audit_log(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    settings = Settings.from_environ(env)
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        spool = SpoolConsumer(tmp_path / "spool")
        rows = [encoded("/a1", ANA), encoded("/a2", ANA), encoded("/b1", BOB)]
        write_segment(spool.root, "p1-aa", 0, b"".join(frame(row) for row in rows))
        assert Writer(spool, store, Metrics()).drain() == 3
    finally:
        store.close()
    ana = format_visitor_id(ANA)

    exported = audience(env, "privacy", "export", "--visitor", ana)
    assert exported.returncode == 0, exported.stderr
    document = json.loads(exported.stdout)
    assert document["visitor"] == ana == "0123456789abcdef"
    assert [event["path"] for event in document["events"]] == ["/a1", "/a2"]
    assert "2 events exported" in exported.stderr
    as_csv = audience(env, "privacy", "export", "--visitor", ana.upper(), "--format", "csv")
    assert [row["path"] for row in csv.DictReader(io.StringIO(as_csv.stdout))] == ["/a1", "/a2"]

    erased = audience(env, "privacy", "erase", "--visitor", ana)
    assert erased.returncode == 0, erased.stderr
    assert erased.stdout.strip() == f"visitor {ana} erased: 2 events deleted"
    assert stored_visitors(settings) == [BOB]

    log = audience(env, "privacy", "log").stdout.splitlines()
    assert [line.split("\t")[1:5] for line in log] == [
        ["erase", "dpo", "done", "2"],
        ["export", "dpo", "done", "2"],
        ["export", "dpo", "done", "2"],
    ]
    subjects = {line.split("\t")[5] for line in log}
    assert len(subjects) == 1 and ana not in subjects  # a hash of the id, not the id
    assert audience(env, "privacy", "log", "--visitor", ana).stdout.splitlines() == log
    assert audience(env, "privacy", "log", "--visitor", format_visitor_id(BOB)).stdout == ""


def test_a_bad_identifier_is_refused_naming_the_problem(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    env = environment(tmp_path / "data", geo_files)
    for bad in ("123", "0123456789abcdeg", "x" * 16):
        result = audience(env, "privacy", "erase", "--visitor", bad)
        assert result.returncode == 2
        assert "16 hex digits" in result.stderr
