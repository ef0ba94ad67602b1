"""What the load tools share: a collector's environment on a fresh data directory, its site, a
free port, and waiting for a server to be ready.

A collector prepared here has GeoIP databases made for the networks of ``collector.demo.traffic``,
trusts ``X-Forwarded-For`` from 127.0.0.1 (the load generators send the visitors' addresses in
it) and has no rate limit.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from loadtests.generate import prepare

READY_SECONDS = 120


def collector_environment(data_dir: Path) -> dict[str, str]:
    """AUDIENCE_* for a collector on ``data_dir``, with GeoIP databases of the traffic networks."""
    environ = {
        "AUDIENCE_DATA_DIR": str(data_dir.resolve()),
        "AUDIENCE_TRUSTED_PROXIES": "127.0.0.1/32",
        "AUDIENCE_RATE_LIMIT": "0",
        "AUDIENCE_LOG_LEVEL": "warning",
    }
    settings = prepare(Settings.from_environ(environ))
    assert settings.geoip_city is not None and settings.geoip_operator is not None
    environ["AUDIENCE_GEOIP_CITY"] = str(settings.geoip_city)
    environ["AUDIENCE_GEOIP_OPERATOR"] = str(settings.geoip_operator)
    return environ


def register_site(environ: dict[str, str], site: Site) -> None:
    """Register ``site`` in the collector's store (migrated first), which must not be in use."""
    settings = Settings.from_environ(environ)
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        store.save_site(site)
    finally:
        store.close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float = READY_SECONDS) -> None:
    """Until ``url`` answers 2xx; SystemExit if the process exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode} before it was ready")
        try:
            with urllib.request.urlopen(url, timeout=1) as answer:
                if 200 <= answer.status < 300:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} was not ready after {timeout:.0f} s")
