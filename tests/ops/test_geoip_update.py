"""``audience geoip update`` against a local mirror: the atomic swap, the refusals, and a running
collector that keeps answering and picks the new database up."""

from __future__ import annotations

import gzip
import io
import os
import re
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from collector.demo.geodb import write_asn_db, write_city_db, write_isp_db
from collector.settings import Settings
from collector.storage.sites import Site
from tests.conftest import (
    CHROME,
    LYON_ORANGE,
    SECRET,
    ServerProcess,
    beacon,
    query_stopped_store,
    register,
)
from tests.console.test_cli import audience

RELOAD_SECONDS = 5.0
LICENSE_KEY = "test-licence-key-0123"


def month(back: int) -> str:
    """YYYY-MM of this month (0) or last month (1), as DB-IP names its files."""
    first = datetime.now(UTC).date().replace(day=1)
    if back:
        first = (first - timedelta(days=1)).replace(day=1)
    return f"{first:%Y-%m}"


def dbip(name: str, back: int = 0) -> str:
    return f"/dbip-{name}-lite-{month(back)}.mmdb.gz"


class Mirror:
    """A download site on 127.0.0.1: DB-IP-style paths, and MaxMind-style ``?edition_id=`` ones
    that want ``LICENSE_KEY``. A file may stall halfway until ``release`` is set."""

    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.statuses: dict[str, int] = {}
        self.stall: set[str] = set()
        self.stalled = threading.Event()
        self.release = threading.Event()
        self.requests: list[str] = []
        mirror = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                query = parse_qs(url.query)
                key = url.path
                if "edition_id" in query:
                    key = query["edition_id"][0]
                    if query.get("license_key") != [LICENSE_KEY]:
                        self.send_error(401)
                        return
                mirror.requests.append(key)
                status = mirror.statuses.get(key, 200 if key in mirror.files else 404)
                if status != 200:
                    self.send_error(status)
                    return
                body = mirror.files[key]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if key in mirror.stall:
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    mirror.stalled.set()
                    mirror.release.wait(30)
                    body = body[len(body) // 2 :]
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Mirror:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(10)


@pytest.fixture
def mirror() -> Iterator[Mirror]:
    with Mirror() as site:
        yield site


class Databases:
    """City A (Lyon) and city B (Marseille) for the same networks, an ASN and an ISP database."""

    def __init__(self, folder: Path) -> None:
        folder.mkdir()
        networks = {"81.2.69.0/24": "FR", "5.10.0.0/16": "BE"}
        self.city_a = write_city_db(
            folder / "a.mmdb", {"81.2.69.0/24": ("Lyon", "FR"), "5.10.0.0/16": ("Brussels", "BE")}
        )
        self.city_b = write_city_db(
            folder / "b.mmdb", {n: ("Marseille", c) for n, c in networks.items()}
        )
        self.asn = write_asn_db(folder / "asn.mmdb", {"81.2.69.0/24": (3215, "Orange S.A.")})
        self.isp = write_isp_db(folder / "isp.mmdb", {"81.2.69.0/24": "Orange"})


@pytest.fixture
def dbs(tmp_path: Path) -> Databases:
    return Databases(tmp_path / "built")


def gz(path: Path) -> bytes:
    return gzip.compress(path.read_bytes())


def serve_dbip(mirror: Mirror, city: Path, asn: Path, back: int = 0) -> None:
    mirror.files[dbip("city", back)] = gz(city)
    mirror.files[dbip("asn", back)] = gz(asn)


def install_city_a(data_dir: Path, dbs: Databases) -> tuple[Path, int]:
    """City A installed under the data directory, as a previous update left it; and its inode."""
    installed = data_dir / "geoip" / "city.mmdb"
    installed.parent.mkdir(parents=True)
    installed.write_bytes(dbs.city_a.read_bytes())
    return installed, installed.stat().st_ino


def env_of(data_dir: Path, **extra: str) -> dict[str, str]:
    """No AUDIENCE_GEOIP_*: the update installs into, and the collector reads, DATA_DIR/geoip."""
    return {
        "AUDIENCE_DATA_DIR": str(data_dir),
        "AUDIENCE_SECRET_KEY": SECRET,
        "AUDIENCE_TRUSTED_PROXIES": "127.0.0.1",
        "AUDIENCE_FLUSH_INTERVAL": "0.05",
        "AUDIENCE_RATE_LIMIT": "0",
        **extra,
    }


def listing(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir())


def test_update_installs_then_swaps_while_the_collector_answers(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    data_dir = tmp_path / "data"
    env = env_of(data_dir)
    geoip = data_dir / "geoip"
    serve_dbip(mirror, dbs.city_a, dbs.asn)
    first = audience(env, "geoip", "update", "--base-url", mirror.url)
    assert first.returncode == 0, first.stderr
    assert "city: installed GeoIP2-City built " in first.stdout
    assert f"as {geoip / 'city.mmdb'} (from {mirror.url}{dbip('city')})" in first.stdout
    assert "operator: installed GeoLite2-ASN built " in first.stdout
    assert "CC BY 4.0" in first.stderr
    assert listing(geoip) == ["asn.mmdb", "city.mmdb"]
    assert (geoip / "city.mmdb").read_bytes() == dbs.city_a.read_bytes()
    inode_a = (geoip / "city.mmdb").stat().st_ino

    settings = Settings.from_environ(env)
    assert settings.geoip_city == geoip / "city.mmdb"  # the defaults apply when they exist
    assert settings.geoip_operator == geoip / "asn.mmdb"
    register(settings, Site("example.com"))
    server = ServerProcess(env, tmp_path / "server.log", "--workers", "2")
    server.wait_ready()

    sent: list[tuple[int, float, float, int]] = []  # number, sent, answered, status
    stop = threading.Event()

    def post_beacons() -> None:
        number = 0
        while not stop.is_set():
            started = time.monotonic()
            # A new connection each time spreads the beacons over both workers.
            response = httpx.post(
                f"{server.url}/api/event",
                json=beacon(url=f"https://example.com/b/{number}"),
                headers={
                    "user-agent": CHROME,
                    "x-forwarded-for": LYON_ORANGE,
                    "connection": "close",
                },
                timeout=10,
            )
            sent.append((number, started, time.monotonic(), response.status_code))
            number += 1
            time.sleep(0.01)

    poster = threading.Thread(target=post_beacons)
    poster.start()
    try:
        time.sleep(1.0)
        serve_dbip(mirror, dbs.city_b, dbs.asn)
        swap_started = time.monotonic()
        second = audience(env, "geoip", "update", "--base-url", mirror.url)
        swapped = time.monotonic()
        assert second.returncode == 0, second.stderr
        time.sleep(RELOAD_SECONDS + 2.5)
    finally:
        stop.set()
        poster.join(30)
    assert server.stop() == 0
    assert (geoip / "city.mmdb").stat().st_ino != inode_a  # a new file, renamed over the old
    assert (geoip / "city.mmdb").read_bytes() == dbs.city_b.read_bytes()
    assert listing(geoip) == ["asn.mmdb", "city.mmdb"]

    during = [n for n, started, *_ in sent if swap_started <= started <= swapped + RELOAD_SECONDS]
    assert len(during) > 10, "the collector did not keep answering while the databases swapped"
    assert {status for *_, status in sent} == {202}  # none failed during the swap
    cities = {
        int(row["path"].rsplit("/", 1)[1]): row["city"]
        for row in query_stopped_store(settings, "SELECT path, city FROM audience.events")
    }
    assert sorted(cities) == [number for number, *_ in sent]
    before = [cities[n] for n, _, answered, _ in sent if answered < swap_started]
    after = [cities[n] for n, started, _, _ in sent if started > swapped + RELOAD_SECONDS + 0.5]
    assert before and set(before) == {"Lyon"}
    assert after and set(after) == {"Marseille"}
    assert set(cities.values()) == {"Lyon", "Marseille"}  # never an empty answer meanwhile
    log = server.log_path.read_text()
    assert log.count("city database reloaded: city.mmdb, GeoIP2-City built ") == 2  # each worker
    assert "81.2.69" not in log


def corrupt_gzip(dbs: Databases) -> bytes:
    return b"not gzip at all " * 64


def gzip_of_garbage(dbs: Databases) -> bytes:
    return gzip.compress(os.urandom(4096))


def truncated_gzip(dbs: Databases) -> bytes:
    data = gz(dbs.city_b)
    return data[: len(data) // 2]


def empty_file(dbs: Databases) -> bytes:
    return gzip.compress(b"")


def asn_as_city(dbs: Databases) -> bytes:
    return gz(dbs.asn)


@pytest.mark.parametrize(
    ("served", "problem"),
    [
        pytest.param(corrupt_gzip, "is not a valid gz file", id="not-gzip"),
        pytest.param(truncated_gzip, "is not a valid gz file", id="truncated-gzip"),
        pytest.param(gzip_of_garbage, "is not a valid MaxMind database", id="garbage-database"),
        pytest.param(empty_file, "is not a valid MaxMind database", id="empty-database"),
        pytest.param(asn_as_city, "is a GeoLite2-ASN database, not City", id="wrong-type"),
    ],
)
def test_a_bad_download_is_refused_and_the_installed_file_kept(
    tmp_path: Path,
    mirror: Mirror,
    dbs: Databases,
    served: Callable[[Databases], bytes],
    problem: str,
) -> None:
    data_dir = tmp_path / "data"
    installed, inode = install_city_a(data_dir, dbs)
    serve_dbip(mirror, dbs.city_b, dbs.asn)
    mirror.files[dbip("city")] = served(dbs)

    result = audience(env_of(data_dir), "geoip", "update", "--base-url", mirror.url)
    assert result.returncode == 2
    assert f"audience: error: city database not updated: {mirror.url}{dbip('city')}" in (
        result.stderr
    )
    assert problem in result.stderr
    assert "operator: installed GeoLite2-ASN" in result.stdout  # the other one is independent
    assert installed.stat().st_ino == inode
    assert installed.read_bytes() == dbs.city_a.read_bytes()
    assert listing(installed.parent) == ["asn.mmdb", "city.mmdb"]  # no temporary file left


@pytest.mark.parametrize(
    ("status", "problem"),
    [
        pytest.param(404, "not found (HTTP 404): ", id="404-both-months"),
        pytest.param(500, "HTTP 500 Internal Server Error from ", id="500"),
        pytest.param(403, "HTTP 403 Forbidden from ", id="403"),
    ],
)
def test_http_errors_are_refused_and_the_installed_file_kept(
    tmp_path: Path, mirror: Mirror, dbs: Databases, status: int, problem: str
) -> None:
    data_dir = tmp_path / "data"
    installed, inode = install_city_a(data_dir, dbs)
    serve_dbip(mirror, dbs.city_b, dbs.asn)
    for back in (0, 1):
        mirror.statuses[dbip("city", back)] = status

    result = audience(env_of(data_dir), "geoip", "update", "--base-url", mirror.url)
    assert result.returncode == 2
    assert f"audience: error: city database not updated: {problem}" in result.stderr
    if status == 404:  # both months tried, in order
        assert [r for r in mirror.requests if "city" in r] == [dbip("city"), dbip("city", 1)]
    assert installed.stat().st_ino == inode
    assert installed.read_bytes() == dbs.city_a.read_bytes()
    assert listing(installed.parent) == ["asn.mmdb", "city.mmdb"]


def test_an_unreachable_mirror_is_an_error(tmp_path: Path) -> None:
    result = audience(
        env_of(tmp_path / "data"), "geoip", "update", "--base-url", "http://127.0.0.1:9"
    )
    assert result.returncode == 2
    assert "city database not updated: cannot download http://127.0.0.1:9/dbip-city" in (
        result.stderr
    )
    assert not (tmp_path / "data" / "geoip" / "city.mmdb").exists()


def test_last_months_file_when_this_months_is_not_out_yet(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    serve_dbip(mirror, dbs.city_a, dbs.asn, back=1)
    result = audience(env_of(tmp_path / "data"), "geoip", "update", "--base-url", mirror.url)
    assert result.returncode == 0, result.stderr
    assert f"(from {mirror.url}{dbip('city', 1)})" in result.stdout
    assert mirror.requests == [dbip("city"), dbip("city", 1), dbip("asn"), dbip("asn", 1)]


def test_the_download_goes_to_a_temporary_file_beside_the_destination(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    """While the download stalls halfway, the old file is whole under its name; the new one is
    a hidden file of the same directory, renamed over it at the end."""
    data_dir = tmp_path / "data"
    installed, inode = install_city_a(data_dir, dbs)
    serve_dbip(mirror, dbs.city_b, dbs.asn)
    mirror.stall.add(dbip("city"))
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
    process = subprocess.Popen(
        [sys.executable, "-m", "collector.cli", "geoip", "update", "--base-url", mirror.url],
        env=full_env | env_of(data_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert mirror.stalled.wait(30)
        deadline = time.monotonic() + 10
        while len(listing(installed.parent)) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        names = listing(installed.parent)
        assert len(names) == 2
        assert names[1] == "city.mmdb"
        assert re.fullmatch(r"\.city\.mmdb\.\w+\.part", names[0])
        assert installed.stat().st_ino == inode
        assert installed.read_bytes() == dbs.city_a.read_bytes()
    finally:
        mirror.release.set()
        _, stderr = process.communicate(timeout=60)
    assert process.returncode == 0, stderr
    assert installed.stat().st_ino != inode
    assert installed.read_bytes() == dbs.city_b.read_bytes()
    assert listing(installed.parent) == ["asn.mmdb", "city.mmdb"]
    assert installed.stat().st_mode & 0o777 == 0o644


def test_configured_paths_are_the_destinations_and_an_isp_database_is_kept(
    tmp_path: Path, mirror: Mirror, dbs: Databases
) -> None:
    city = tmp_path / "GeoIP2-City.mmdb"
    city.write_bytes(dbs.city_a.read_bytes())
    city.chmod(0o640)
    isp = tmp_path / "GeoIP2-ISP.mmdb"
    isp.write_bytes(dbs.isp.read_bytes())
    serve_dbip(mirror, dbs.city_b, dbs.asn)
    env = env_of(tmp_path / "data", AUDIENCE_GEOIP_CITY=str(city), AUDIENCE_GEOIP_OPERATOR=str(isp))
    result = audience(env, "geoip", "update", "--base-url", mirror.url)
    assert result.returncode == 0, result.stderr
    assert city.read_bytes() == dbs.city_b.read_bytes()
    assert city.stat().st_mode & 0o777 == 0o640  # the installed file's mode is kept
    assert isp.read_bytes() == dbs.isp.read_bytes()
    assert f"operator: kept {isp}, a GeoIP2-ISP database" in result.stdout
    assert not (tmp_path / "data" / "geoip").exists()


def geolite_archive(edition: str, database: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name, data in (
            ("COPYRIGHT.txt", b"test"),
            (f"{edition}.mmdb", database.read_bytes()),
        ):
            member = tarfile.TarInfo(f"{edition}_20250101/{name}")
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data))
    return buffer.getvalue()


def test_maxmind_with_a_licence_key(tmp_path: Path, mirror: Mirror, dbs: Databases) -> None:
    mirror.files["GeoLite2-City"] = geolite_archive("GeoLite2-City", dbs.city_a)
    mirror.files["GeoLite2-ASN"] = geolite_archive("GeoLite2-ASN", dbs.asn)
    data_dir = tmp_path / "data"
    base = f"{mirror.url}/app/geoip_download"

    no_key = audience(env_of(data_dir), "geoip", "update", "--source", "maxmind")
    assert no_key.returncode == 2
    assert "--source maxmind needs a licence key" in no_key.stderr

    wrong = audience(
        env_of(data_dir, AUDIENCE_MAXMIND_LICENSE_KEY="wrong-key"),
        "geoip", "update", "--source", "maxmind", "--base-url", base,
    )  # fmt: skip
    assert wrong.returncode == 2
    assert "HTTP 401 Unauthorized from " in wrong.stderr
    assert "wrong-key" not in wrong.stderr + wrong.stdout

    for env, option in (
        (env_of(data_dir, AUDIENCE_MAXMIND_LICENSE_KEY=LICENSE_KEY), ()),
        (env_of(data_dir), ("--license-key", LICENSE_KEY)),
    ):
        result = audience(
            env, "geoip", "update", "--source", "maxmind", "--base-url", base, *option
        )
        assert result.returncode == 0, result.stderr
        assert f"(from {base}?edition_id=GeoLite2-City&suffix=tar.gz)" in result.stdout
        assert LICENSE_KEY not in result.stdout + result.stderr
        assert "CC BY" not in result.stderr
    assert (data_dir / "geoip" / "city.mmdb").read_bytes() == dbs.city_a.read_bytes()
    assert (data_dir / "geoip" / "asn.mmdb").read_bytes() == dbs.asn.read_bytes()
