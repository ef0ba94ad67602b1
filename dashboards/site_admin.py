"""Sites added, changed and removed: one implementation for the dashboards and the CLI.

A change is saved in the store, audited (``dashboards.audit``) and announced through
``sites_changed``: the serving process uses it at once, its HTTP workers within a second. A
removed site stops collecting at once; its data stays until the retention ends, or is erased
now (``collector.storage.site_data``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from collector.storage.closed_visits import ClosedVisits
from collector.storage.site_data import erase_site
from collector.storage.sites import (
    DEFAULT_ENGAGED_SECONDS,
    Site,
    SiteError,
    check_engaged_seconds,
    check_origin,
    check_timezone,
    normalize_domain,
)
from collector.storage.store import Store
from dashboards.audit import AuditLog


def site_from(
    domain: str,
    origins: Iterable[str] = (),
    timezone: str = "Europe/Paris",
    respect_gpc: bool = True,
    count_outside_gdpr: bool = False,
    engaged_seconds: int | str = DEFAULT_ENGAGED_SECONDS,
) -> Site:
    """A site from what a form or a command gave; SiteError names what is wrong."""
    return Site(
        normalize_domain(domain),
        tuple(check_origin(origin) for origin in origins if origin.strip()),
        check_timezone(timezone.strip()),
        respect_gpc=respect_gpc,
        count_outside_gdpr=count_outside_gdpr,
        engaged_seconds=check_engaged_seconds(engaged_seconds),
    )


def choices(site: Site) -> tuple[str, str]:
    """A site's GPC and outside-GDPR choices in words, as the audit and the CLI show them."""
    gpc = "honours GPC" if site.respect_gpc else "ignores GPC"
    gdpr = "counts outside GDPR" if site.count_outside_gdpr else "consent only"
    return gpc, gdpr


def describe(site: Site) -> str:
    """A site's settings in one line, for the audit."""
    return (
        f"origins {' '.join(site.origins)}; {site.timezone}; {'; '.join(choices(site))}; "
        f"engaged after {site.engaged_seconds} s"
    )


@dataclass(frozen=True)
class Removal:
    domain: str
    erased_tables: tuple[str, ...]  # empty: the data stays until the retention ends


class SiteAdmin:
    def __init__(self, store: Store, sites_changed: Callable[[], None] = lambda: None) -> None:
        self.store = store
        self.sites_changed = sites_changed
        self.audit = AuditLog(store)

    def sites(self) -> dict[str, Site]:
        return self.store.sites()

    def add(self, actor: str, site: Site) -> Site:
        """Register a new site; SiteError if the domain is registered already."""
        if site.domain in self.store.sites():
            raise SiteError(f"site {site.domain} is registered already")
        return self._save(actor, "site.add", site)

    def save(self, actor: str, site: Site) -> Site:
        """Register the site, or replace its settings (the CLI's ``sites add``)."""
        known = site.domain in self.store.sites()
        return self._save(actor, "site.edit" if known else "site.add", site)

    def edit(self, actor: str, site: Site) -> Site:
        """Change a registered site's settings; SiteError if there is no such site."""
        self.existing(site.domain)
        return self._save(actor, "site.edit", site)

    def existing(self, domain: str) -> Site:
        domain = normalize_domain(domain)
        site = self.store.sites().get(domain)
        if site is None:
            raise SiteError(f"no such site: {domain}")
        return site

    def remove(self, actor: str, domain: str, *, erase: bool) -> Removal:
        """Unregister the site: beacons for it are refused from now on; with ``erase`` its
        events and rollups are deleted now, else they stay until the retention ends."""
        site = self.existing(domain)
        self.store.save_site(site, deleted=True)
        self.sites_changed()
        tables = tuple(erase_site(self.store, site.domain)) if erase else ()
        detail = "data erased" if erase else "data kept until retention"
        self.audit.record(actor, "site.remove", site.domain, detail)
        return Removal(site.domain, tables)

    def _save(self, actor: str, action: str, site: Site) -> Site:
        before = self.store.sites().get(site.domain)
        self.store.save_site(site)
        if before is None or before.engaged_seconds != site.engaged_seconds:
            # The closed visits' rollups counted engaged visits with the old threshold: their
            # hours are written again (the dashboards merge those visits meanwhile).
            ClosedVisits(self.store).mark_site(site.domain)
        self.sites_changed()
        self.audit.record(actor, action, site.domain, describe(site))
        return site
