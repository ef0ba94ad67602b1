"""create_dashboards(settings, backend) -> the dashboards' Starlette app, mounted by the collector.

Pages return HTML and the same data as JSON; the stats API serves scripts with an API key. Every
route but the login page and the static files needs a signed-in user or a key (``auth``).
"""

from __future__ import annotations

from typing import Protocol

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from collector.settings import Settings
from collector.storage.sites import SiteRegistry
from collector.storage.store import Store
from dashboards import login, security
from dashboards.api import breakdown, export_csv, realtime, summary, timeseries
from dashboards.context import Dashboards
from dashboards.views import dashboard, sites


class Backend(Protocol):
    """What the collector's runtime lends the dashboards: its store and its sites."""

    store: Store | None
    sites: SiteRegistry


def create_dashboards(settings: Settings, backend: Backend) -> Starlette:
    app = Starlette(
        routes=[
            Route("/login", login.form, methods=["GET"]),
            Route("/login", login.submit, methods=["POST"]),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/", sites),
            Route("/sites/{site}", dashboard),
            Route("/sites/{site}/export/{dimension}.csv", export_csv),
            Route("/api/stats/{site}/summary", summary),
            Route("/api/stats/{site}/breakdown/{dimension}", breakdown),
            Route("/api/stats/{site}/timeseries", timeseries),
            Route("/api/stats/{site}/realtime", realtime),
            Mount("/static", StaticFiles(packages=[("dashboards", "static")]), name="static"),
        ],
        middleware=[Middleware(security.SecurityMiddleware)],
    )
    app.state.dashboards = Dashboards(settings, backend)
    return app
