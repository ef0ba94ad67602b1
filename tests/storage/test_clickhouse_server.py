"""The product on a ClickHouse server, through an HTTP DSN: `audience migrate`, `audience sites
add`, `audience serve` storing beacons, the stats API with a key, and an erasure.

It runs where AUDIENCE_TEST_CLICKHOUSE_URL names a server (docker-compose's test service sets
it) and is skipped elsewhere. The product's database is always `audience`: with
AUDIENCE_TEST_CLICKHOUSE_RESET=1 the test drops it first (a throwaway server); otherwise it
registers a site of its own and reads only that site's rows, so it can run on a shared server.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from clickhouse_connect.driver.exceptions import OperationalError

from collector.settings import Settings
from collector.storage.errors import StoreError
from collector.storage.store import Store
from collector.web.visitor import StateSigner
from dashboards.accounts import Accounts
from tests.conftest import CHROME, LYON_ORANGE, GeoFiles, ServerProcess, beacon, environment
from tests.console.test_cli import audience

URL = "AUDIENCE_TEST_CLICKHOUSE_URL"
RESET = "AUDIENCE_TEST_CLICKHOUSE_RESET"
NO_SERVER = (
    f"no ClickHouse server: set {URL} to run this against one, as docker-compose's test "
    "service does"
)
T = TypeVar("T")


@pytest.fixture(scope="module")
def server_url() -> str:
    url = os.environ.get(URL)
    if not url:
        pytest.skip(NO_SERVER)
    try:
        store = Store.connect(url)
    except StoreError as error:
        if isinstance(error.__cause__, OperationalError):  # nothing answers there
            pytest.skip(f"{NO_SERVER} ({error})")
        raise  # a server that refuses us: a broken test setup, not a missing server
    try:
        if os.environ.get(RESET) == "1":
            store.execute("DROP DATABASE IF EXISTS audience SYNC")
    finally:
        store.close()
    return url


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 30) -> T:
    """``read()`` once ``done`` holds of it; its last value after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.2)
        value = read()
    return value


def test_the_product_runs_on_a_clickhouse_server(
    server_url: str, tmp_path: Path, geo_files: GeoFiles
) -> None:
    token = secrets.token_hex(5)
    site, admin = f"ch-{token}.test", f"ops-{token}@example.com"
    env = environment(
        tmp_path / "data", geo_files, AUDIENCE_CLICKHOUSE_URL=server_url, AUDIENCE_RATE_LIMIT="0"
    )
    settings = Settings.from_environ(env)
    for arguments in (("migrate",), ("migrate",), ("sites", "add", site)):
        done = audience(env, *arguments)
        assert done.returncode == 0, done.stderr
    store = Store.open(server_url, settings.retention_months)  # a server takes many openers
    try:
        accounts = Accounts(store, settings.secret_key)
        accounts.add_user(admin, "a long enough password 1", "admin")
        key = accounts.keys.create(admin, "server test")[1]
        server = ServerProcess(env, tmp_path / "server.log")
        try:
            server.wait_ready()
            _visit_measure_and_erase(server, store, settings, site, key)
        finally:
            server.stop()
    finally:
        store.close()


def _visit_measure_and_erase(
    server: ServerProcess, store: Store, settings: Settings, site: str, key: str
) -> None:
    headers = {"origin": f"https://{site}", "x-forwarded-for": LYON_ORANGE}
    with (
        httpx.Client(base_url=server.url, headers={"user-agent": CHROME}, timeout=15) as ana,
        httpx.Client(base_url=server.url, headers={"user-agent": CHROME}, timeout=15) as bob,
    ):
        for client, paths in ((ana, ("/a1", "/a2", "/a3")), (bob, ("/b1", "/b2"))):
            for path in paths:
                event = beacon(site=site, url=f"https://{site}{path}")
                sent = client.post("/api/event", json=event, headers=headers)
                assert sent.status_code == 202, sent.text

        def stored() -> list[dict[str, Any]]:
            return store.query_dicts(
                "SELECT visitor, path, city FROM audience.events WHERE site = {s:String}",
                {"s": site},
            )

        rows = eventually(stored, lambda rows: len(rows) >= 5)
        assert sorted(row["path"] for row in rows) == ["/a1", "/a2", "/a3", "/b1", "/b2"]
        assert {row["city"] for row in rows} == {"Lyon"}

        def summary() -> dict[str, Any]:
            answer = httpx.get(
                f"{server.url}/api/stats/{site}/summary?period=today",
                headers={"authorization": f"Bearer {key}"},
            )
            assert answer.status_code == 200, answer.text
            current: dict[str, Any] = answer.json()["current"]
            return current

        measured = eventually(summary, lambda current: current["pageviews"] == 5)
        assert (measured["pageviews"], measured["visitors"]) == (5, 2)

        erased = ana.post("/api/privacy/me/erase", headers={"sec-fetch-site": "same-origin"})
        assert erased.status_code == 200, erased.text
        assert erased.json() == {"status": "erased", "events_erased": 3}
        signer = StateSigner(settings.secret_key)
        state = signer.verify(bob.cookies["audience"])
        assert state is not None
        left = eventually(stored, lambda rows: len(rows) == 2)
        assert {row["visitor"] for row in left} == {signer.visitor_hash(state)}
        after = eventually(summary, lambda current: current["pageviews"] == 2)
        assert (after["pageviews"], after["visitors"]) == (2, 1)  # the rollups rebuilt
