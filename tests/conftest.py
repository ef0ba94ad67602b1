"""Shared fixtures: GeoIP databases built here, settings in a temporary data directory, and a
real uvicorn server on a free port of 127.0.0.1 running the real app on the embedded ClickHouse."""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from collector.app import CollectorApp, create_app
from collector.demo.geodb import write_asn_db, write_city_db, write_isp_db
from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store

SECRET = "test-secret-key-that-is-long-enough-0123456789"
CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_6 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.6 Mobile/15E148 Safari/604.1"
)
# Addresses of the test databases: city, country, operator
LYON_ORANGE = "81.2.69.42"
PARIS_FREE_V6 = "2a01:e0a:1::7"
BRUSSELS_PROXIMUS = "5.10.20.30"


# The files whose tests run longest (a minute or more each on a 2-core machine) go first, so
# that pytest-xdist, which hands out whole files in this order (--no-loadscope-reorder: by
# default it hands out the files with the most tests first, and these have few), does not end
# the run on one of them.
LONGEST_FIRST = (
    "test_startup.py",
    "test_fuzz.py",
    "test_visit_metrics.py",
    "test_admin_while_serving.py",
    "test_workers.py",
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    def rank(item: pytest.Item) -> int:
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the other files keep their order


@dataclass(frozen=True)
class GeoFiles:
    city: Path
    isp: Path
    asn: Path


@pytest.fixture(scope="session")
def geo_files(tmp_path_factory: pytest.TempPathFactory) -> GeoFiles:
    folder = tmp_path_factory.mktemp("geoip")
    return GeoFiles(
        city=write_city_db(
            folder / "city.mmdb",
            {
                "81.2.69.0/24": ("Lyon", "FR"),
                "2a01:e0a::/32": ("Paris", "FR"),
                "5.10.0.0/16": ("Brussels", "BE"),
            },
        ),
        isp=write_isp_db(
            folder / "isp.mmdb",
            {"81.2.69.0/24": "Orange", "2a01:e0a::/32": "Free", "5.10.0.0/16": "Proximus"},
        ),
        asn=write_asn_db(
            folder / "asn.mmdb",
            {"81.2.69.0/24": (3215, "Orange S.A."), "5.10.0.0/16": (5432, "Proximus NV")},
        ),
    )


def environment(data_dir: Path, geo: GeoFiles, **extra: str) -> dict[str, str]:
    """AUDIENCE_* variables for a collector on ``data_dir`` (for settings and subprocesses)."""
    return {
        "AUDIENCE_DATA_DIR": str(data_dir),
        "AUDIENCE_SECRET_KEY": SECRET,
        "AUDIENCE_GEOIP_CITY": str(geo.city),
        "AUDIENCE_GEOIP_OPERATOR": str(geo.isp),
        "AUDIENCE_TRUSTED_PROXIES": "127.0.0.1",
        "AUDIENCE_FLUSH_INTERVAL": "0.05",
        "AUDIENCE_LOG_LEVEL": "info",
        **extra,
    }


@pytest.fixture
def settings(tmp_path: Path, geo_files: GeoFiles) -> Settings:
    return Settings.from_environ(environment(tmp_path / "data", geo_files))


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The embedded store of ``settings``, opened in this process and not migrated."""
    opened = Store.connect(settings.clickhouse_url)
    try:
        yield opened
    finally:
        opened.close()


_TEMPLATES: dict[int, Path] = {}


def _template(retention_months: int) -> Path:
    """An embedded store migrated once per test process (its ``clickhouse`` folder)."""
    if retention_months not in _TEMPLATES:
        folder = Path(tempfile.mkdtemp(prefix="audience-template-")) / "clickhouse"
        Store.open(f"chdb://{folder}", retention_months).close()
        atexit.register(shutil.rmtree, folder.parent, ignore_errors=True)
        _TEMPLATES[retention_months] = folder
    return _TEMPLATES[retention_months]


def migrated_store(settings: Settings) -> Store:
    """The store of ``settings``, migrated. A new embedded store starts as a copy of one migrated
    in this process (a second or so of DDL saved per test); ``Store.open`` then checks it is up
    to date, as at every start. The migrations themselves are tested from an empty store in
    tests/storage/test_schema.py, and every ``audience serve`` of the tests makes its own."""
    url = settings.clickhouse_url
    if settings.is_embedded:
        _copy_template(Path(url.removeprefix("chdb://")), settings.retention_months)
    return Store.open(url, settings.retention_months)


def migrated_store_at(folder: Path, retention_months: int = 25) -> Store:
    """The embedded store in ``folder``, migrated, as ``migrated_store`` makes it."""
    _copy_template(folder, retention_months)
    return Store.open(f"chdb://{folder}", retention_months)


def _copy_template(folder: Path, retention_months: int) -> None:
    if not folder.exists():
        folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        shutil.copytree(_template(retention_months), folder, symlinks=True)


def register(settings: Settings, *sites: Site) -> None:
    store = migrated_store(settings)
    try:
        for site in sites:
            store.save_site(site)
    finally:
        store.close()


def query_stopped_store(settings: Settings, sql: str) -> list[dict[str, Any]]:
    """Rows from the store of a collector that has stopped (the embedded one allows one opener)."""
    store = Store.connect(settings.clickhouse_url)
    try:
        return store.query_dicts(sql)
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LiveServer:
    """The real app under a real uvicorn on 127.0.0.1, in a thread of the test process."""

    def __init__(
        self, settings: Settings, wrap: Callable[[CollectorApp, str], Any] | None = None
    ) -> None:
        """``wrap(app, url)`` may put the collector behind another ASGI app (a test website)."""
        self.settings = settings
        self.app: CollectorApp = create_app(settings)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(
            wrap(self.app, self.url) if wrap else self.app,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            access_log=False,
            proxy_headers=False,
            ws="none",
            lifespan="on",
            root_path=settings.root_path,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    @property
    def store(self) -> Store:
        store = self.app.runtime.store
        assert store is not None
        return store

    def wait_stored(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """Rows of audience.events once there are ``count`` of them (fails on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            rows = events(self.store)
            if len(rows) >= count or time.monotonic() > deadline:
                assert len(rows) == count, f"expected {count} stored rows, found {len(rows)}"
                return rows
            time.sleep(0.05)

    def settle(self) -> list[dict[str, Any]]:
        """Rows once the spool is drained: for tests asserting that nothing was stored."""
        writer = self.app.runtime.writer
        assert writer is not None
        time.sleep(self.settings.flush_interval * 3)
        writer.drain()
        return events(self.store)


def events(store: Store) -> list[dict[str, Any]]:
    return store.query_dicts("SELECT * FROM audience.events ORDER BY ts, path")


@pytest.fixture
def live(settings: Settings) -> Iterator[LiveServer]:
    register(settings, Site("example.com"), Site("localhost"))
    with LiveServer(settings) as server:
        yield server


@pytest.fixture
def client(live: LiveServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=live.url, headers={"user-agent": CHROME}, timeout=10) as http:
        yield http


def beacon(**fields: Any) -> dict[str, Any]:
    value = {
        "site": "example.com",
        "type": "pageview",
        "url": "https://example.com/pricing?utm_source=news#plans",
        "consent": "manual",
    }
    value.update(fields)
    return {k: v for k, v in value.items() if v is not None}


def walk(server: str, site: str, journeys: tuple[tuple[str, ...], ...]) -> int:
    """One visitor per journey, each its own browser (its cookie: one visit), viewing the paths
    of ``site`` in order through the collector at ``server``; the number of beacons sent."""
    sent = 0
    for number, journey in enumerate(journeys):
        agent = CHROME.replace("537.36", f"537.{number}")
        with httpx.Client(base_url=server, timeout=15) as visitor:
            for path in journey:
                answer = visitor.post(
                    "/api/event",
                    json=beacon(site=site, url=f"https://{site}{path}"),
                    headers={"user-agent": agent, "origin": f"https://{site}"},
                )
                assert answer.status_code == 202, answer.text
                sent += 1
    return sent


class ServerProcess:
    """``audience serve`` as a child process, its output kept in a file."""

    def __init__(self, env: dict[str, str], log_path: Path, *arguments: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("AUDIENCE_")}
        full_env.update(env)
        self.log = log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "collector.cli", "serve", "--port", str(self.port), *arguments],
            env=full_env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        # One client for all the polls: ``httpx.get`` would make one, and its TLS context, at
        # each poll (some 40 ms of CPU, taken from the server that is starting).
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=1) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    raise RuntimeError(f"server exited: {self.log_path.read_text()}")
                try:
                    if client.get(f"{self.url}/readyz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"server not ready: {self.log_path.read_text()}")

    def stop(self, sig: int | None = None) -> int:
        if sig is None:
            self.process.terminate()
        else:
            self.process.send_signal(sig)
        code = self.process.wait(60)
        self.log.close()
        return code
