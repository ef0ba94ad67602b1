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
from dashboards import (
    account_views,
    admin_views,
    annotation_views,
    api,
    goal_views,
    login,
    security,
    share_views,
    team_views,
)
from dashboards.api import (
    breakdown,
    cohorts,
    export_cohorts,
    export_csv,
    realtime,
    summary,
    timeseries,
)
from dashboards.context import Dashboards
from dashboards.report_views import add_report, remove_report, reports_page, send_test_report
from dashboards.views import dashboard, sites


class Backend(Protocol):
    """What the collector's runtime lends the dashboards: its store and its sites."""

    store: Store | None
    sites: SiteRegistry

    def refusals(self, site: str) -> dict[str, tuple[int, float]]:
        """Why beacons of ``site`` were refused since the start: (how many, the last time)."""

    def sites_changed(self) -> None:
        """A site was added, changed or removed: serve the change (here at once, in the HTTP
        workers within a second)."""


def create_dashboards(settings: Settings, backend: Backend) -> Starlette:
    app = Starlette(
        routes=[
            Route("/login", login.form, methods=["GET"]),
            Route("/login", login.submit, methods=["POST"]),
            Route("/logout", login.logout, methods=["POST"]),
            Route("/", sites),
            Route("/admin/sites/new", admin_views.new_site),
            Route("/admin/sites", admin_views.add_site, methods=["POST"]),
            Route("/admin/audit", admin_views.audit),
            Route("/admin/team", team_views.team),
            Route("/admin/team/invitations", team_views.invite, methods=["POST"]),
            Route(
                "/admin/team/invitations/{invitation}/revoke",
                team_views.revoke_invitation,
                methods=["POST"],
            ),
            Route("/admin/team/members/{email}/access", team_views.change_access, methods=["POST"]),
            Route("/admin/team/members/{email}/remove", team_views.remove_member, methods=["POST"]),
            Route("/sites/{site}/share", share_views.shares),
            Route("/sites/{site}/share", share_views.create_share, methods=["POST"]),
            Route("/sites/{site}/share/{link}/revoke", share_views.revoke_share, methods=["POST"]),
            Route("/share/{token}", share_views.shared),
            Route("/share/{token}", share_views.unlock, methods=["POST"]),
            Route("/invite/{token}", team_views.invitation),
            Route("/invite/{token}", team_views.accept_invitation, methods=["POST"]),
            Route("/account", account_views.account),
            Route("/account/password", account_views.change_password, methods=["POST"]),
            Route("/account/totp", account_views.totp_enrolment),
            Route("/account/totp", account_views.confirm_totp, methods=["POST"]),
            Route("/account/totp/disable", account_views.disable_totp, methods=["POST"]),
            Route("/account/keys", account_views.keys),
            Route("/account/keys", account_views.create_key, methods=["POST"]),
            Route("/account/keys/{key}/revoke", account_views.revoke_key, methods=["POST"]),
            Route("/sites/{site}/settings", admin_views.site_settings),
            Route("/sites/{site}/settings", admin_views.save_site_settings, methods=["POST"]),
            Route("/sites/{site}/remove", admin_views.confirm_removal),
            Route("/sites/{site}/remove", admin_views.remove_site, methods=["POST"]),
            Route("/sites/{site}/install", admin_views.install_page),
            Route("/api/sites/{site}/install-status", admin_views.install_status),
            Route("/sites/{site}/reports", reports_page),
            Route("/sites/{site}/reports", add_report, methods=["POST"]),
            Route("/sites/{site}/reports/{report}/remove", remove_report, methods=["POST"]),
            Route("/sites/{site}/reports/{report}/test", send_test_report, methods=["POST"]),
            Route("/sites/{site}", dashboard),
            Route("/sites/{site}/goals", goal_views.goals_page),
            Route("/sites/{site}/goals", goal_views.add_goal, methods=["POST"]),
            Route("/sites/{site}/goals/{goal}/remove", goal_views.remove_goal, methods=["POST"]),
            Route("/sites/{site}/funnels", goal_views.add_funnel, methods=["POST"]),
            Route(
                "/sites/{site}/funnels/{funnel}/remove",
                goal_views.remove_funnel,
                methods=["POST"],
            ),
            Route("/sites/{site}/export/goals.csv", api.export_goals),
            Route("/sites/{site}/export/funnels/{funnel}.csv", api.export_funnel),
            Route("/sites/{site}/export/cohorts.csv", export_cohorts),
            Route("/sites/{site}/export/{dimension}.csv", export_csv),
            Route("/api/stats/{site}/summary", summary),
            Route("/api/stats/{site}/breakdown/{dimension}", breakdown),
            Route("/api/stats/{site}/timeseries", timeseries),
            Route("/api/stats/{site}/realtime", realtime),
            Route("/api/stats/{site}/goals", api.goals),
            Route("/api/stats/{site}/funnels", api.funnels),
            Route("/api/stats/{site}/funnels/{funnel}", api.funnel),
            Route("/sites/{site}/annotations", annotation_views.add, methods=["POST"]),
            Route(
                "/sites/{site}/annotations/{annotation}/remove",
                annotation_views.remove,
                methods=["POST"],
            ),
            Route("/api/stats/{site}/annotations", annotation_views.listed),
            Route("/api/stats/{site}/cohorts", cohorts),
            Mount("/static", StaticFiles(packages=[("dashboards", "static")]), name="static"),
        ],
        middleware=[Middleware(security.SecurityMiddleware)],
    )
    app.state.dashboards = Dashboards(settings, backend)
    return app
