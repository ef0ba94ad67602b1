"""What every dashboards view reaches through ``request.app.state.dashboards``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.templating import Jinja2Templates

from collector.settings import Settings
from collector.storage.sites import Site
from collector.storage.store import Store
from collector.web.http import root_path

T = TypeVar("T")

if TYPE_CHECKING:
    from dashboards.accounts import Accounts
    from dashboards.annotations import Annotations
    from dashboards.app import Backend
    from dashboards.conversions import Conversions
    from dashboards.goals import Goals
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
        return self._one_per("stats", store, lambda: Stats(store, self.settings.min_cell))

    def goals(self) -> Goals:
        from dashboards.goals import Goals

        store = self.store()
        return self._one_per("goals", store, lambda: Goals(store))

    def conversions(self) -> Conversions:
        from dashboards.conversions import Conversions

        stats = self.stats()
        return self._one_per("conversions", stats, lambda: Conversions(stats))

    def accounts(self) -> Accounts:
        from dashboards.accounts import Accounts

        store = self.store()
        return self._one_per("accounts", store, lambda: Accounts(store, self.settings.secret_key))

    def team(self) -> Team:
        from dashboards.team import Team

        accounts = self.accounts()
        return self._one_per("team", accounts, lambda: Team(accounts, self.settings))

    def shared_links(self) -> SharedLinks:
        from dashboards.shared_links import SharedLinks

        store = self.store()
        secret = self.settings.secret_key
        return self._one_per("shared_links", store, lambda: SharedLinks(store, secret))

    def _one_per(self, name: str, owner: object, make: Callable[[], T]) -> T:
        """One ``name`` for ``owner`` (the store it reads, or the accounts it uses): made again
        when the owner changes (a store reopened)."""
        if self._cache.get(f"{name}.owner") is not owner:
            self._cache[name] = make()
            self._cache[f"{name}.owner"] = owner
        made: T = self._cache[name]
        return made

    def annotations(self) -> Annotations:
        from dashboards.annotations import Annotations

        store = self.store()
        return self._one_per("annotations", store, lambda: Annotations(store))

    def site_admin(self) -> SiteAdmin:
        from dashboards.site_admin import SiteAdmin

        return SiteAdmin(self.store(), self.backend.sites_changed)


def dashboards_of(request: Request) -> Dashboards:
    context: Dashboards = request.app.state.dashboards
    return context


def registered_site(request: Request) -> Site:
    """The site the request's path names (``{site}``); 404 when it is not registered."""
    site = request.path_params["site"]
    registered = dashboards_of(request).backend.sites.get(site)
    if registered is None:
        raise HTTPException(404, f"unknown site: {site!r} is not registered")
    return registered
