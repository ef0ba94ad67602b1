"""The ``audience`` command, run as a user runs it: a child process with AUDIENCE_* variables."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import GeoFiles, environment


def audience(
    env: dict[str, str], *arguments: str, input_text: str | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")} | env
    return subprocess.run(
        [sys.executable, "-m", "collector.cli", *arguments],
        env=full_env,
        input=input_text,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_sites_add_list_remove(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    added = audience(env, "sites", "add", "Example.COM")
    assert added.returncode == 0, added.stderr
    assert "https://example.com, https://*.example.com" in added.stdout
    custom = audience(
        env,
        "sites", "add", "shop.test", "--origin", "https://shop.test",
        "--origin", "http://localhost:*", "--timezone", "America/Montreal", "--ignore-gpc",
        "--count-outside-gdpr", "--engaged-seconds", "30",
    )  # fmt: skip
    assert custom.returncode == 0, custom.stderr
    local = audience(env, "sites", "add", "localhost")
    assert "http://localhost:*" in local.stdout

    listed = audience(env, "sites", "list").stdout.splitlines()
    assert listed[0].split("\t")[:2] == ["example.com", "Europe/Paris"]
    assert listed[0].split("\t")[2:4] == ["honours GPC", "consent only"]
    assert listed[2].split("\t") == [
        "shop.test", "America/Montreal", "ignores GPC", "counts outside GDPR",
        "engaged after 30 s", "https://shop.test http://localhost:*",
    ]  # fmt: skip

    removed = audience(env, "sites", "remove", "example.com")
    assert removed.returncode == 0
    assert [line.split("\t")[0] for line in audience(env, "sites", "list").stdout.splitlines()] == [
        "localhost",
        "shop.test",
    ]
    missing = audience(env, "sites", "remove", "example.com")
    assert missing.returncode == 2
    assert "no such site: example.com" in missing.stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (("sites", "add", "not a domain"), "not a domain name"),
        (("sites", "add", "a.test", "--timezone", "Mars/Olympus"), "unknown time zone"),
        (("sites", "add", "a.test", "--origin", "ftp://a.test"), "not an origin"),
    ],
)
def test_sites_add_refuses_bad_input(
    tmp_path: Path, geo_files: GeoFiles, arguments: tuple[str, ...], message: str
) -> None:
    result = audience(environment(tmp_path / "data", geo_files), *arguments)
    assert result.returncode == 2
    assert message in result.stderr


def test_migrate_is_idempotent(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    for _ in range(2):
        result = audience(env, "migrate")
        assert result.returncode == 0, result.stderr
        assert "schema up to date" in result.stdout


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("AUDIENCE_RETENTION_MONTHS", "many"),
        ("AUDIENCE_SECRET_KEY", "short"),
        ("AUDIENCE_TRUSTED_PROXIES", "10.0.0.300"),
        ("AUDIENCE_GEOIP_CITY", "/nonexistent/city.mmdb"),
    ],
)
def test_a_bad_setting_stops_the_start_naming_the_variable(
    tmp_path: Path, geo_files: GeoFiles, variable: str, value: str
) -> None:
    env = environment(tmp_path / "data", geo_files) | {variable: value}
    result = audience(env, "serve", "--port", "0")
    assert result.returncode == 2
    assert result.stderr.startswith(f"audience: error: {variable}:")


def test_corrupt_geoip_database_stops_the_start(tmp_path: Path, geo_files: GeoFiles) -> None:
    broken = tmp_path / "broken.mmdb"
    broken.write_bytes(geo_files.city.read_bytes()[:300])
    env = environment(tmp_path / "data", geo_files, AUDIENCE_GEOIP_CITY=str(broken))
    result = audience(env, "serve", "--port", "0")
    assert result.returncode == 2
    assert "AUDIENCE_GEOIP_CITY" in result.stderr
    assert "not a valid MaxMind database" in result.stderr

    wrong_kind = environment(
        tmp_path / "data", geo_files, AUDIENCE_GEOIP_OPERATOR=str(geo_files.city)
    )
    result = audience(wrong_kind, "serve", "--port", "0")
    assert result.returncode == 2
    assert "AUDIENCE_GEOIP_OPERATOR" in result.stderr and "GeoIP2-City" in result.stderr
