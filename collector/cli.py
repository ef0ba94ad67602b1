"""The ``audience`` command."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence

from collector import cluster, geoip_update, logs, privacy_cli, retention
from collector.cluster import ClusterError
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
from collector.store import Store, StoreError, is_embedded
from dashboards import totp
from dashboards.accounts import (
    ROLES,
    AccountError,
    Accounts,
    check_access,
    check_new_password,
    normalize_email,
)


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

    migrate = commands.add_parser("migrate", help="apply the ClickHouse schema migrations")
    migrate.add_argument(
        "--cluster",
        metavar="NAME",
        help="the schema of a ClickHouse cluster (its remote_servers NAME): Replicated engines, "
        "Distributed tables, ON CLUSTER NAME",
    )
    migrate.add_argument(
        "--print",
        action="store_true",
        dest="print_ddl",
        help="write the DDL to the standard output instead of applying it",
    )

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

    users = commands.add_parser("users", help="manage the dashboards' users")
    user_commands = users.add_subparsers(dest="users_command", required=True)
    add_user = user_commands.add_parser(
        "add", help="add a user (or replace its password and access)"
    )
    add_user.add_argument("email")
    add_user.add_argument("--role", choices=ROLES, required=True)
    add_user.add_argument(
        "--site",
        action="append",
        default=[],
        help="a site a viewer may see (repeatable); admins see every site",
    )
    add_user.add_argument(
        "--password-stdin", action="store_true", help="read the password from the standard input"
    )
    user_commands.add_parser("list", help="list the users")
    remove_user = user_commands.add_parser("remove", help="remove a user, its sessions and keys")
    remove_user.add_argument("email")
    user_totp = user_commands.add_parser(
        "totp", help="enable (or re-enrol) a user's TOTP second factor; recommended for admins"
    )
    user_totp.add_argument("email")
    user_totp.add_argument("--disable", action="store_true", help="remove the second factor")

    keys = commands.add_parser("keys", help="manage the API keys of the stats API")
    key_commands = keys.add_subparsers(dest="keys_command", required=True)
    create_key = key_commands.add_parser("create", help="create a key acting for a user")
    create_key.add_argument("--user", required=True, metavar="EMAIL")
    create_key.add_argument("--name", default="", help="what the key is for")
    key_commands.add_parser("list", help="list the keys")
    revoke_key = key_commands.add_parser("revoke", help="revoke a key")
    revoke_key.add_argument("id")

    commands.add_parser(
        "retention",
        help="drop the data past AUDIENCE_RETENTION_MONTHS now and purge erased rows "
        "(serve does it daily)",
    )
    privacy_cli.add_parser(commands)
    geoip_update.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        settings = Settings.from_environ()
        logs.configure(settings.log_level)
        return _run(arguments, settings)
    except (
        SettingsError,
        GeoDatabaseError,
        StoreError,
        SiteError,
        AccountError,
        ClusterError,
    ) as error:
        print(f"audience: error: {error}", file=sys.stderr)
        return 2


def _run(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.command == "serve":
        from collector.serve import serve  # imports uvicorn only when serving

        return serve(settings, arguments.host, arguments.port, arguments.workers, arguments.demo)
    if arguments.command == "migrate":
        return _migrate(arguments, settings)
    if arguments.command == "users":
        return _users(arguments, settings)
    if arguments.command == "keys":
        return _keys(arguments, settings)
    if arguments.command == "retention":
        return _retention(settings)
    if arguments.command == "privacy":
        return privacy_cli.run(arguments, settings)
    if arguments.command == "geoip":
        return geoip_update.run(arguments, settings)
    return _sites(arguments, settings)


def _migrate(arguments: argparse.Namespace, settings: Settings) -> int:
    name = arguments.cluster and cluster.check_cluster_name(arguments.cluster)
    if arguments.print_ddl:
        sys.stdout.write(cluster.script(settings.retention_months, name))
        return 0
    if not name:
        Store.open(settings.clickhouse_url, settings.retention_months).close()
        print("schema up to date")
        return 0
    if is_embedded(settings.clickhouse_url):
        raise ClusterError("--cluster: AUDIENCE_CLICKHOUSE_URL must name a server of the cluster")
    store = Store.connect(settings.clickhouse_url)
    try:
        found = store.find_cluster()
        if found == "":
            raise StoreError("audience.events is a single-node table here: not a cluster's schema")
        if found not in (None, name):
            raise StoreError(f"audience.events is distributed over the cluster {found}, not {name}")
        for applied in store.migrate(settings.retention_months, cluster.transformer(name)):
            print(f"applied on the cluster {name}: {applied}")
    finally:
        store.close()
    print(f"schema up to date on the cluster {name}")
    return 0


def _retention(settings: Settings) -> int:
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        report = retention.run(store, settings.retention_months, wait=True)
    finally:
        store.close()
    for table, partitions in sorted(report.dropped.items()):
        print(f"{table}: dropped {' '.join(partitions)}")
    for table, partitions in sorted(report.purged.items()):
        print(f"{table}: erased rows purged from {' '.join(partitions)}")
    if not report.dropped:
        print(f"nothing is past the retention of {report.months} months")
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


def _users(arguments: argparse.Namespace, settings: Settings) -> int:
    command = arguments.users_command
    email = "" if command == "list" else normalize_email(arguments.email)
    if command == "add":  # everything checked before the password is asked
        role, sites = check_access(arguments.role, arguments.site)
        password = check_new_password(_read_password(arguments.password_stdin))
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        accounts = Accounts(store, settings.secret_key)
        if command == "add":
            created = accounts.add_user(email, password, role, sites or ())
            access = f"{role} of " + ("every site" if sites is None else ", ".join(sorted(sites)))
            if created:
                print(f"user {email} added: {access}")
            else:
                print(f"user {email} updated: {access}; its sessions are signed out")
        elif command == "list":
            for user in accounts.users():
                listed = "*" if user.sites is None else " ".join(sorted(user.sites))
                second = "totp on" if user.totp_nonce else "totp off"
                print(f"{user.email}\t{user.role}\t{listed}\t{second}")
        elif command == "totp":
            _totp(accounts, email, arguments.disable)
        else:
            accounts.remove_user(email)
            print(f"user {email} removed; its sessions and keys are revoked")
    finally:
        store.close()
    return 0


def _totp(accounts: Accounts, email: str, disable: bool) -> None:
    if disable:
        if accounts.disable_totp(email):
            print(f"second factor of {email} removed; its sessions are signed out")
        else:
            print(f"{email} had no second factor")
        return
    secret = accounts.enable_totp(email)
    print(totp.otpauth_uri(email, secret))
    print(totp.encode_secret(secret))
    print(
        f"second factor of {email} enabled and its sessions signed out: add the URI (or the "
        "secret) to an authenticator app now, it is shown only this once",
        file=sys.stderr,
    )


def _read_password(from_stdin: bool) -> str:
    """The new password: one line of the standard input, or asked twice on the terminal."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise AccountError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise AccountError("the two passwords differ")
    return password


def _keys(arguments: argparse.Namespace, settings: Settings) -> int:
    store = Store.open(settings.clickhouse_url, settings.retention_months)
    try:
        accounts = Accounts(store, settings.secret_key)
        if arguments.keys_command == "create":
            record, key = accounts.create_key(arguments.user, arguments.name)
            print(key)
            print(
                f"key {record.id} created for {record.email}: it is shown only this once",
                file=sys.stderr,
            )
        elif arguments.keys_command == "list":
            for record in accounts.api_keys():
                created = record.created.strftime("%Y-%m-%dT%H:%M:%SZ")
                print(f"{record.id}\t{record.email}\t{record.name}\t{created}")
        else:
            record = accounts.revoke_key(arguments.id)
            print(f"key {record.id} of {record.email} revoked")
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
