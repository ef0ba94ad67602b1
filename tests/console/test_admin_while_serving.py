"""Administration while ``audience serve`` runs on the embedded store: the commands of another
shell are carried out by the server through its admin socket, with the output and exit codes
they have when the server is stopped."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import httpx
import pytest

from collector.console.admin import admin_socket
from collector.settings import Settings
from collector.storage.store import Store
from tests.conftest import CHROME, GeoFiles, ServerProcess, beacon, environment
from tests.console.test_cli import audience

SITE_ADDED_WITHIN_SECONDS = 5.0


def send(client: httpx.Client, site: str, origin: str, path: str) -> httpx.Response:
    body = beacon(site=site, url=f"{origin}{path}")
    return client.post("/api/event", json=body, headers={"origin": origin})


def wait_accepted(client: httpx.Client, site: str, origin: str, timeout: float) -> float:
    """Seconds until the collector takes beacons of ``site`` (it refuses unknown sites)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        answer = send(client, site, origin, "/first")
        if answer.status_code == 202:
            return time.monotonic() - started
        assert answer.status_code == 404, answer.text  # unknown site, until it is known
        time.sleep(0.05)
    raise AssertionError(f"{site} still refused after {timeout} s")


def my_events(client: httpx.Client, expected: int, timeout: float = 15.0) -> dict[str, object]:
    """The visitor's own stored events (the privacy API, with the cookie), once ``expected``."""
    deadline = time.monotonic() + timeout
    while True:
        mine = client.get("/api/privacy/me")
        assert mine.status_code == 200, mine.text
        document: dict[str, object] = mine.json()
        if document["events_total"] == expected or time.monotonic() > deadline:
            return document
        time.sleep(0.1)


@pytest.mark.parametrize("workers", [1, 2])
def test_every_admin_command_works_while_the_server_runs(
    tmp_path: Path, geo_files: GeoFiles, workers: int
) -> None:
    env = environment(tmp_path / "data", geo_files)
    server = ServerProcess(env, tmp_path / "server.log", "--workers", str(workers))
    try:
        server.wait_ready()
        added = audience(env, "sites", "add", "shop.test", "--origin", "http://shop.test")
        assert (added.returncode, added.stderr) == (0, "")
        assert added.stdout == "site shop.test registered; origins: http://shop.test\n"
        with httpx.Client(base_url=server.url, headers={"user-agent": CHROME}) as client:
            waited = wait_accepted(client, "shop.test", "http://shop.test", 10.0)
            assert waited < SITE_ADDED_WITHIN_SECONDS
            print(f"{workers} worker(s): the new site's beacons accepted after {waited:.2f} s")
            for page in ("/a", "/b"):
                assert send(client, "shop.test", "http://shop.test", page).status_code == 202
            mine = my_events(client, 3)
            assert mine["events_total"] == 3
            visitor = str(mine["visitor"])

            user = audience(
                env, "users", "add", "ana@example.com", "--role", "viewer", "--site",
                "shop.test", "--password-stdin", input_text="a long enough password 42\n",
            )  # fmt: skip
            assert (user.returncode, user.stderr) == (0, "")
            assert user.stdout == "user ana@example.com added: viewer of shop.test\n"
            key = audience(env, "keys", "create", "--user", "ana@example.com", "--name", "ci")
            assert key.returncode == 0, key.stderr
            assert "created for ana@example.com: it is shown only this once" in key.stderr
            stats = client.get(
                "/api/stats/shop.test/summary",
                headers={"authorization": f"Bearer {key.stdout.strip()}"},
            )
            assert stats.status_code == 200, stats.text

            exported = audience(env, "privacy", "export", "--visitor", visitor)
            assert exported.returncode == 0, exported.stderr
            assert exported.stderr == "3 events exported\n"
            assert '"path": "/b"' in exported.stdout
            erased = audience(env, "privacy", "erase", "--visitor", visitor)
            assert (erased.returncode, erased.stdout) == (
                0, f"visitor {visitor} erased: 3 events deleted\n"
            )  # fmt: skip
            assert my_events(client, 0, timeout=0)["events_total"] == 0

        missing = audience(env, "sites", "remove", "nope.test")
        assert (missing.returncode, missing.stdout) == (2, "")
        assert missing.stderr == "audience: error: no such site: nope.test\n"
        listed_while_serving = audience(env, "sites", "list")
        logged = server.log_path.read_text()
        assert "admin command: audience sites add" in logged
    finally:
        assert server.stop() == 0
    # Stopped: the same command is run by the CLI itself, and says the same.
    assert not admin_socket(Settings.from_environ(env).data_dir).exists()
    listed_stopped = audience(env, "sites", "list")
    assert listed_stopped.returncode == listed_while_serving.returncode == 0
    assert listed_stopped.stdout == listed_while_serving.stdout
    missing_stopped = audience(env, "sites", "remove", "nope.test")
    assert (missing_stopped.returncode, missing_stopped.stderr) == (2, missing.stderr)


def test_a_store_held_by_a_process_without_admin_socket_is_explained(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    env = environment(tmp_path / "data", geo_files)
    held = Store.connect(Settings.from_environ(env).clickhouse_url)  # this process holds it
    try:
        result = audience(env, "sites", "list")
    finally:
        held.close()
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "is in use by another process, which does not answer on its admin socket" in (
        result.stderr
    )


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_the_admin_socket(tmp_path: Path, geo_files: GeoFiles) -> None:
    env = environment(tmp_path / "data", geo_files)
    server = ServerProcess(env, tmp_path / "server.log")
    try:
        server.wait_ready()
        path = admin_socket(Settings.from_environ(env).data_dir)
        assert path.is_socket()
        assert path.parent.stat().st_mode & 0o777 == 0o700
        child = os.fork()
        if child == 0:  # as nobody: reach the socket, or say why not
            code = 1
            try:
                os.setuid(65534)
                with socket.socket(socket.AF_UNIX) as connection:
                    connection.connect(str(path))
                code = 0
            except PermissionError:
                code = 13
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 13
    finally:
        assert server.stop() == 0
