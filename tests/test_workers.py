"""``audience serve --workers 2``: HTTP workers spool, the parent alone owns the store and serves
the dashboards and metrics the workers forward to it."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import orjson
import uvicorn

from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from collector.web.asgi import Receive, Scope, Send
from collector.web.forward import CLIENT_HEADER, ClientScope, ToStoreOwner
from collector.web.sockets import owner_socket
from dashboards.accounts import Accounts
from tests.conftest import (
    CHROME,
    GeoFiles,
    ServerProcess,
    beacon,
    environment,
    free_port,
    query_stopped_store,
    register,
)


def test_two_workers_hand_their_events_to_one_writer(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0")
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    server = ServerProcess(env, tmp_path / "server.log", "--workers", "2")
    server.wait_ready()
    with httpx.Client(base_url=server.url, headers={"user-agent": CHROME}) as client:
        for i in range(60):
            # A new connection each time lets the kernel spread them over both workers.
            response = httpx.post(
                f"{server.url}/api/event",
                json=beacon(url=f"/w/{i}"),
                headers={"user-agent": CHROME, "connection": "close"},
            )
            assert response.status_code == 202
        ready = client.get("/readyz").json()
        assert ready == {"ready": True, "checks": {"spool": True}}
    time.sleep(0.5)
    workers_seen = {p.name for p in settings.spool_dir.iterdir() if p.is_dir()}
    assert len(workers_seen) == 2  # one spool directory per worker process
    server.stop()
    assert "Started parent process" in server.log_path.read_text()

    rows = query_stopped_store(settings, "SELECT path FROM audience.events")
    assert sorted(row["path"] for row in rows) == sorted(f"/w/{i}" for i in range(60))


def api_key(settings: Settings) -> str:
    """An admin's API key, made before the server opens the embedded store."""
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        accounts = Accounts(store, settings.secret_key)
        accounts.add_user("ops@example.com", "a long enough password 1", "admin")
        return accounts.keys.create("ops@example.com", "workers test")[1]
    finally:
        store.close()


def test_workers_forward_the_dashboards_to_the_store_owner_and_sum_the_metrics(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    env = environment(tmp_path / "data", geo_files, AUDIENCE_RATE_LIMIT="0")
    settings = Settings.from_environ(env)
    register(settings, Site("example.com"))
    key = api_key(settings)
    server = ServerProcess(env, tmp_path / "server.log", "--workers", "2")
    server.wait_ready()
    try:
        for i in range(20):
            response = httpx.post(
                f"{server.url}/api/event",
                json=beacon(url=f"/f/{i}"),
                headers={"user-agent": CHROME, "connection": "close"},
            )
            assert response.status_code == 202
        summary: dict[str, object] = {}
        deadline = time.monotonic() + 30
        while summary.get("pageviews") != 20 and time.monotonic() < deadline:
            time.sleep(0.3)
            # A new connection each time: every worker must reach the owner.
            answer = httpx.get(
                f"{server.url}/api/stats/example.com/summary?period=today",
                headers={"authorization": f"Bearer {key}", "connection": "close"},
            )
            assert answer.status_code == 200, answer.text
            summary = answer.json()["current"]
        assert summary["pageviews"] == 20, summary
        login = httpx.get(f"{server.url}/login", headers={"connection": "close"})
        assert login.status_code == 200 and "<form" in login.text
        assert "content-security-policy" in login.headers
        refused = httpx.get(f"{server.url}/api/stats/example.com/summary")
        assert refused.status_code == 401  # the owner checks the key, as one process does
        # Any worker's /metrics adds up every process: 20 accepted (by two workers), 20 stored
        # (by the owner), whichever worker answers, once each has published its snapshot (every
        # second).
        expected = ("audience_rows_stored_total 20", "audience_events_accepted_total 20")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            metrics = httpx.get(f"{server.url}/metrics", headers={"connection": "close"}).text
            if all(line in metrics for line in expected):
                break
            time.sleep(0.3)
        assert "audience_rows_stored_total 20" in metrics
        assert "audience_events_accepted_total 20" in metrics
    finally:
        server.stop()


def test_the_owner_socket_moves_to_the_temporary_directory_when_the_path_is_too_long() -> None:
    short = Path("/srv/audience")
    assert owner_socket(short) == short / "run" / "owner.sock"
    deep = Path("/srv") / ("d" * 120)
    moved = owner_socket(deep)
    assert len(str(moved)) < 100 and moved == owner_socket(deep)  # the same for every process
    assert moved != owner_socket(Path("/srv") / ("e" * 120))


async def echo_scope(scope: Scope, receive: Receive, send: Send) -> None:
    """The owner's view of a forwarded request: scheme, client address, header names."""
    names = sorted(name.decode() for name, _ in scope["headers"])
    body = orjson.dumps([scope["scheme"], scope["client"][0], scope["path"], names])
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def test_a_client_cannot_forge_what_the_worker_tells_the_owner(tmp_path: Path) -> None:
    socket_path = tmp_path / "owner.sock"
    owner = uvicorn.Server(
        uvicorn.Config(ClientScope(echo_scope), uds=str(socket_path), log_level="warning")
    )
    worker = uvicorn.Server(
        uvicorn.Config(ToStoreOwner(socket_path), port=(port := free_port()), log_level="warning")
    )
    threads = [threading.Thread(target=server.run, daemon=True) for server in (owner, worker)]
    for thread in threads:
        thread.start()
    try:
        deadline = time.monotonic() + 20
        while not (owner.started and worker.started):
            assert time.monotonic() < deadline, "the servers did not start"
            time.sleep(0.02)
        forged = {CLIENT_HEADER.decode(): "https 443 203.0.113.66", "x-kept": "1"}
        answer = httpx.get(f"http://127.0.0.1:{port}/a%2Fb", headers=forged)
        scheme, client, path, names = answer.json()
        assert (scheme, client, path) == ("http", "127.0.0.1", "/a/b")
        assert CLIENT_HEADER.decode() not in names and "x-kept" in names
        assert answer.headers.get_list("date") == [answer.headers["date"]]  # one, not two
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket_path))) as local:
            assert local.get("http://owner/").status_code == 400  # only what a worker forwards
    finally:
        for server in (owner, worker):
            server.should_exit = True
        for thread in threads:
            thread.join(10)
