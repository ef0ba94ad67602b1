"""The ``audience`` command's arguments, and the running of a command sent to the admin socket.

The parser is the one the CLI parses with and the serving process parses again with
(``run_in_server``): a command forwarded to a server means there what it means here.
"""

from __future__ import annotations

import argparse
from datetime import date

from collector.console import commands
from collector.console import goals as goals_cli
from collector.console.commands import ERRORS, STORE_COMMANDS, Context
from collector.ops import geoip_update
from collector.privacy import cli as privacy_cli
from collector.storage.sites import DEFAULT_ENGAGED_SECONDS, DEFAULT_TIMEZONE
from dashboards.account_rules import ROLES


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
    add.add_argument(
        "--count-outside-gdpr",
        action="store_true",
        help="count visitors to whom the TCF consent manager says the GDPR does not apply "
        '(gdprApplies false; the tag must also say data-outside-gdpr="count"); '
        "default: count nothing without a consent",
    )
    add.add_argument(
        "--engaged-seconds",
        type=int,
        default=DEFAULT_ENGAGED_SECONDS,
        help="seconds of engaged time that make a one-page visit engaged (default: %(default)s)",
    )
    site_commands.add_parser("list", help="list the registered sites")
    remove = site_commands.add_parser(
        "remove", help="unregister a site (its data stays until the retention ends)"
    )
    remove.add_argument("domain")
    remove.add_argument("--erase", action="store_true", help="erase its events and rollups now")

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
    create_key.add_argument(
        "--site",
        action="append",
        default=[],
        help="a site the key may read (repeatable); none: every site of its user",
    )
    create_key.add_argument(
        "--expires",
        type=date.fromisoformat,
        metavar="YYYY-MM-DD",
        help="the last day the key works (UTC); default: until revoked",
    )
    key_commands.add_parser("list", help="list the keys")
    revoke_key = key_commands.add_parser("revoke", help="revoke a key")
    revoke_key.add_argument("id")

    commands.add_parser(
        "retention",
        help="drop the data past AUDIENCE_RETENTION_MONTHS now and purge erased rows "
        "(serve does it daily)",
    )
    goals_cli.add_parsers(commands)
    privacy_cli.add_parser(commands)
    geoip_update.add_parser(commands)
    return parser


def one_line(error: Exception) -> str:
    """An error as one line: drivers' messages may span several."""
    return " ".join(str(error).split())


def run_in_server(words: list[str], context: Context) -> int:
    """What the serving process runs for a command sent to its admin socket."""
    try:
        arguments = build_parser().parse_args(words)
    except SystemExit:  # the client parsed the same words: only a client of another version
        print("audience: error: these arguments are not understood here", file=context.err)
        return 2
    if arguments.command not in STORE_COMMANDS:
        print(f"audience: error: {arguments.command} is not run by the server", file=context.err)
        return 2
    try:
        return commands.run(arguments, context)
    except ERRORS as error:
        print(f"audience: error: {one_line(error)}", file=context.err)
        return 2
