"""The administrative commands of ``audience``, run where the store is.

``audience sites|users|keys|goals|funnels|privacy|retention|migrate`` are carried out here, by the
CLI in its own process, or, when a running ``audience serve`` holds the embedded store (which one
process at a time may open), by that server on its admin socket (``collector.console.admin``): the
same code, the same output and exit codes. A command gets a ``Context``: where to write, how to
reach the store (open it, or borrow the server's), the server's writer for erasures, and what to
tell the server when the sites change.
"""

from __future__ import annotations

import argparse
import getpass
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import TextIO

from collector.console import goals as goals_cli
from collector.ops.geoip_files import GeoDatabaseError
from collector.privacy import cli as privacy_cli
from collector.settings import Settings, SettingsError
from collector.storage import cluster, retention
from collector.storage.cluster import ClusterError
from collector.storage.errors import StoreError
from collector.storage.sites import SiteError
from collector.storage.store import Store, is_embedded
from collector.storage.writer import Writer
from dashboards import totp
from dashboards.account_rules import (
    AccountError,
    check_access,
    check_new_password,
    end_of_day,
    normalize_email,
)
from dashboards.accounts import Accounts
from dashboards.audit import shell_actor
from dashboards.mail import MailError
from dashboards.site_admin import SiteAdmin, choices, site_from
from dashboards.team import Team, access_words

# What a command refuses with: printed as one line, exit status 2.
ERRORS = (
    SettingsError, GeoDatabaseError, StoreError, SiteError, AccountError, ClusterError, MailError,
)  # fmt: skip
# The commands that use the store, and so may be carried out by a running server.
STORE_COMMANDS = frozenset(
    {"sites", "users", "keys", "goals", "funnels", "privacy", "retention", "migrate"}
)

StoreAccess = Callable[[], AbstractContextManager[Store]]


@dataclass(frozen=True)
class Context:
    settings: Settings
    out: TextIO
    err: TextIO
    stdin: TextIO
    store: StoreAccess
    writer: Writer | None = None  # the serving process's: erasures go through it
    sites_changed: Callable[[], None] = lambda: None


def opened_store(settings: Settings) -> StoreAccess:
    """The store opened (and migrated) for one command, closed after it."""

    @contextmanager
    def access() -> Iterator[Store]:
        store = Store.open(settings.clickhouse_url, settings.retention_months)
        try:
            yield store
        finally:
            store.close()

    return access


def borrowed_store(store: Store) -> StoreAccess:
    """The running server's store: used, never closed."""

    @contextmanager
    def access() -> Iterator[Store]:
        yield store

    return access


def run(arguments: argparse.Namespace, context: Context) -> int:
    command = arguments.command
    if command == "migrate":
        return _migrate(arguments, context)
    if command == "users":
        return _users(arguments, context)
    if command == "keys":
        return _keys(arguments, context)
    if command == "retention":
        return _retention(context)
    if command in ("goals", "funnels"):
        with context.store() as store:
            return goals_cli.run(arguments, store, context.out)
    if command == "privacy":
        with context.store() as store:
            return privacy_cli.run(
                arguments, context.settings, store, context.writer, context.out, context.err
            )
    return _sites(arguments, context)


def _migrate(arguments: argparse.Namespace, context: Context) -> int:
    settings, out = context.settings, context.out
    name = arguments.cluster and cluster.check_cluster_name(arguments.cluster)
    if arguments.print_ddl:
        out.write(cluster.script(settings.retention_months, name))
        return 0
    if not name:
        with context.store():
            pass
        print("schema up to date", file=out)
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
            print(f"applied on the cluster {name}: {applied}", file=out)
    finally:
        store.close()
    print(f"schema up to date on the cluster {name}", file=out)
    return 0


def _retention(context: Context) -> int:
    out = context.out
    with context.store() as store:
        report = retention.run(store, context.settings.retention_months, wait=True)
    for table, partitions in sorted(report.dropped.items()):
        print(f"{table}: dropped {' '.join(partitions)}", file=out)
    for table, partitions in sorted(report.purged.items()):
        print(f"{table}: erased rows purged from {' '.join(partitions)}", file=out)
    if not report.dropped:
        print(f"nothing is past the retention of {report.months} months", file=out)
    return 0


def _sites(arguments: argparse.Namespace, context: Context) -> int:
    out = context.out
    with context.store() as store:
        admin = SiteAdmin(store, context.sites_changed)
        if arguments.sites_command == "add":
            site = site_from(
                arguments.domain,
                arguments.origin,
                arguments.timezone,
                respect_gpc=not arguments.ignore_gpc,
                count_outside_gdpr=arguments.count_outside_gdpr,
                engaged_seconds=arguments.engaged_seconds,
            )
            admin.save(shell_actor(), site)
            print(f"site {site.domain} registered; origins: {', '.join(site.origins)}", file=out)
        elif arguments.sites_command == "list":
            for site in admin.sites().values():
                gpc, gdpr = choices(site)
                origins = " ".join(site.origins)
                engaged = f"engaged after {site.engaged_seconds} s"
                print(
                    f"{site.domain}\t{site.timezone}\t{gpc}\t{gdpr}\t{engaged}\t{origins}", file=out
                )
        else:
            removal = admin.remove(shell_actor(), arguments.domain, erase=arguments.erase)
            fate = (
                "its events and rollups are erased"
                if removal.erased_tables
                else "its events stay until their retention ends"
            )
            print(f"site {removal.domain} removed; {fate}", file=out)
    return 0


def _users(arguments: argparse.Namespace, context: Context) -> int:
    command, out = arguments.users_command, context.out
    email = "" if command == "list" else normalize_email(arguments.email)
    if command == "add":  # everything checked before the password is asked
        role, sites = check_access(arguments.role, arguments.site)
        password = check_new_password(read_password(arguments.password_stdin, context.stdin))
    with context.store() as store:
        accounts = Accounts(store, context.settings.secret_key)
        team = Team(accounts, context.settings)
        if command == "add":
            created = team.add_user(shell_actor(), email, password, role, sites or ())
            access = access_words(role, sites)
            if created:
                print(f"user {email} added: {access}", file=out)
            else:
                print(f"user {email} updated: {access}; its sessions are signed out", file=out)
        elif command == "list":
            for user in accounts.users():
                listed = "*" if user.sites is None else " ".join(sorted(user.sites))
                second = "totp on" if user.totp_nonce else "totp off"
                print(f"{user.email}\t{user.role}\t{listed}\t{second}", file=out)
        elif command == "totp":
            _totp(team, email, arguments.disable, context)
        else:
            team.remove(shell_actor(), email)
            print(f"user {email} removed; its sessions and keys are revoked", file=out)
    return 0


def _totp(team: Team, email: str, disable: bool, context: Context) -> None:
    out = context.out
    if disable:
        if team.disable_totp(shell_actor(), email):
            print(f"second factor of {email} removed; its sessions are signed out", file=out)
        else:
            print(f"{email} had no second factor", file=out)
        return
    secret = team.enable_totp(shell_actor(), email)
    print(totp.otpauth_uri(email, secret), file=out)
    print(totp.encode_secret(secret), file=out)
    print(
        f"second factor of {email} enabled and its sessions signed out: add the URI (or the "
        "secret) to an authenticator app now, it is shown only this once",
        file=context.err,
    )


def read_password(from_stdin: bool, stdin: TextIO) -> str:
    """The new password: one line of the standard input, or asked twice on the terminal."""
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    if not stdin.isatty():
        raise AccountError("no terminal to ask for the password: use --password-stdin")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Password again: ") != password:
        raise AccountError("the two passwords differ")
    return password


def _keys(arguments: argparse.Namespace, context: Context) -> int:
    out = context.out
    with context.store() as store:
        team = Team(Accounts(store, context.settings.secret_key), context.settings)
        if arguments.keys_command == "create":
            expires = end_of_day(arguments.expires) if arguments.expires else None
            record, key = team.create_key(
                shell_actor(), arguments.user, arguments.name, arguments.site, expires
            )
            print(key, file=out)
            print(
                f"key {record.id} created for {record.email}: it is shown only this once",
                file=context.err,
            )
        elif arguments.keys_command == "list":
            for record in team.accounts.keys.all():
                listed = record.as_dict()
                sites = " ".join(listed["sites"]) or "*"
                columns = (record.id, record.email, record.name, sites, listed["created"])
                ends = (listed["expires"] or "never", listed["last_used"] or "never")
                print("\t".join((*columns, *ends)), file=out)
        else:
            record = team.revoke_key(shell_actor(), arguments.id)
            print(f"key {record.id} of {record.email} revoked", file=out)
    return 0
