"""What every dashboards view reaches through ``request.app.state.dashboards``."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from collector.settings import Settings
from collector.storage.store import Store
from collector.web.http import root_path

if TYPE_CHECKING:
    from dashboards.accounts import Accounts
    from dashboards.app import Backend
    from dashboards.shared_links import SharedLinks
    from dashboards.site_admin import SiteAdmin
    from dashboards.stats import Stats
    from dashboards.team import Team


def _root(request: Request) -> dict[str, Any]:
    """``root``, for every template: the path prefix the product is served under ("" at the
    root of the host), written before every link of ours."""
    return {"root": root_path(request.scope)}


def _templates() -> Jinja2Templates:
    import jinja2

    loader = jinja2.PackageLoader("dashboards", "templates")
    environment = jinja2.Environment(loader=loader, autoescape=True)
    return Jinja2Templates(env=environment, context_processors=[_root])


@dataclass
class Dashboards:
    settings: Settings
    backend: Backend
    templates: Jinja2Templates = field(default_factory=_templates)
    _cache: dict[str, Any] = field(default_factory=dict)

    def store(self) -> Store:
        store = self.backend.store
        if store is None:
            raise HTTPException(503, "the store is not open in this process")
        return store

    def stats(self) -> Stats:
        from dashboards.stats import Stats

        store = self.store()
        if self._cache.get("stats_store") is not store:
            self._cache["stats"] = Stats(store, self.settings.min_cell)
            self._cache["stats_store"] = store
        stats: Stats = self._cache["stats"]
        return stats

    def accounts(self) -> Accounts:
        from dashboards.accounts import Accounts

        store = self.store()
        if self._cache.get("accounts_store") is not store:
            self._cache["accounts"] = Accounts(store, self.settings.secret_key)
            self._cache["accounts_store"] = store
        accounts: Accounts = self._cache["accounts"]
        return accounts

    def team(self) -> Team:
        from dashboards.team import Team

        accounts = self.accounts()
        if self._cache.get("team_accounts") is not accounts:
            self._cache["team"] = Team(accounts, self.settings)
            self._cache["team_accounts"] = accounts
        team: Team = self._cache["team"]
        return team

    def shared_links(self) -> SharedLinks:
        from dashboards.shared_links import SharedLinks

        store = self.store()
        if self._cache.get("shared_store") is not store:
            self._cache["shared"] = SharedLinks(store, self.settings.secret_key)
            self._cache["shared_store"] = store
        links: SharedLinks = self._cache["shared"]
        return links

    def site_admin(self) -> SiteAdmin:
        from dashboards.site_admin import SiteAdmin

        return SiteAdmin(self.store(), self.backend.sites_changed)


def dashboards_of(request: Request) -> Dashboards:
    context: Dashboards = request.app.state.dashboards
    return context
