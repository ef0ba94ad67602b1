"""The ``audience`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector import logs
from collector.geo import GeoDatabaseError
from collector.settings import Settings, SettingsError
from collector.sites import (
    DEFAULT_TIMEZONE,
    Site,
    SiteError,
    check_origin,
    check_timezone,
    normalize_domain,
)
from collector.store import Store, StoreError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="audience", description="Consent-gated, privacy-preserving audience measurement."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the collector (and dashboards)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="HTTP worker processes")
    serve.add_argument(
        "--demo", action="store_true", help="register a demo site and generate traffic"
    )

    commands.add_parser("migrate", help="apply the ClickHouse schema migrations")

    sites = commands.add_parser("sites", help="manage the registered sites")
    site_commands = sites.add_subparsers(dest="sites_command", required=True)
    add = site_commands.add_parser("add", help="register a site (or update it)")
    add.add_argument("domain")
    add.add_argument(
        "--origin",
        action="append",
        default=[],
        help="an origin allowed to send beacons (repeatable); "
        "default: https://DOMAIN and https://*.DOMAIN",
    )
    add.add_argument("--timezone", default=DEFAULT_TIMEZONE)
    add.add_argument(
        "--ignore-gpc",
        action="store_true",
        help="do not treat Global Privacy Control as a refusal for this site",
    )
    site_commands.add_parser("list", help="list the registered sites")
    remove = site_commands.add_parser("remove", help="unregister a site (its data stays)")
    remove.add_argument("domain")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ()
        logs.configure(settings.log_level)
        return _run(arguments, settings)
    except (SettingsError, GeoDatabaseError, StoreError, SiteError) as error:
        print(f"audience: error: {error}", file=sys.stderr)
        return 2


def _run(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.command == "serve":
        from collector.serve import serve  # imports uvicorn only when serving

        return serve(settings, arguments.host, arguments.port, arguments.workers, arguments.demo)
    if arguments.command == "migrate":
        return _migrate(settings)
    return _sites(arguments, settings)


def _migrate(settings: Settings) -> int:
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    store.close()
    print("schema up to date")
    return 0


def _sites(arguments: argparse.Namespace, settings: Settings) -> int:
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        if arguments.sites_command == "add":
            domain = normalize_domain(arguments.domain)
            site = Site(
                domain,
                tuple(check_origin(origin) for origin in arguments.origin),
                check_timezone(arguments.timezone),
                respect_gpc=not arguments.ignore_gpc,
            )
            store.save_site(site)
            print(f"site {domain} registered; origins: {', '.join(site.origins)}")
        elif arguments.sites_command == "list":
            for site in store.sites().values():
                gpc = "honours GPC" if site.respect_gpc else "ignores GPC"
                print(f"{site.domain}\t{site.timezone}\t{gpc}\t{' '.join(site.origins)}")
        else:
            domain = normalize_domain(arguments.domain)
            known = store.sites().get(domain)
            if known is None:
                raise SiteError(f"no such site: {domain}")
            store.save_site(known, deleted=True)
            print(f"site {domain} removed; its events stay until their retention ends")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
