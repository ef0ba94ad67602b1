"""The ``audience`` command: its arguments, the start step, and where each command runs.

A command that uses the store runs in this process, or, when a running ``audience serve`` holds
the embedded store, in that server through its admin socket (``collector.admin``), with the same
output and exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector import admin, commands, geoip_update, logs, privacy_cli, startup
from collector.commands import ERRORS, STORE_COMMANDS, Context
from collector.settings import Settings
from collector.sites import DEFAULT_TIMEZONE
from collector.store import embedded_store_in_use
from dashboards.accounts import ROLES


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
    words = list(sys.argv[1:] if argv is None else argv)
    arguments = build_parser().parse_args(words)
    try:
        settings = Settings.from_environ()
        logs.configure(settings.log_level)
        if not (arguments.command == "migrate" and arguments.print_ddl):
            settings = startup.prepare(settings)
        if _held_by_a_server(arguments, settings):
            return _forward(arguments, words, settings)
        return _run(arguments, settings)
    except ERRORS as error:
        print(f"audience: error: {one_line(error)}", file=sys.stderr)
        return 2


def one_line(error: Exception) -> str:
    """An error as one line: drivers' messages may span several."""
    return " ".join(str(error).split())


def _run(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.command == "serve":
        from collector.serve import serve  # imports uvicorn only when serving

        return serve(settings, arguments.host, arguments.port, arguments.workers, arguments.demo)
    if arguments.command == "geoip":
        return geoip_update.run(arguments, settings)
    context = Context(settings, sys.stdout, sys.stderr, sys.stdin, commands.opened_store(settings))
    return commands.run(arguments, context)


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


def _held_by_a_server(arguments: argparse.Namespace, settings: Settings) -> bool:
    """The command needs the embedded store, and a running server holds it."""
    return (
        arguments.command in STORE_COMMANDS
        and settings.is_embedded
        and embedded_store_in_use(settings.clickhouse_url)
    )


def _forward(arguments: argparse.Namespace, words: list[str], settings: Settings) -> int:
    """Have the running server carry the command out; a password is asked here, first."""
    stdin = ""
    if arguments.command == "users" and arguments.users_command == "add":
        stdin = commands.read_password(arguments.password_stdin, sys.stdin) + "\n"
        if not arguments.password_stdin:
            words = [*words, "--password-stdin"]
    answer = admin.ask(admin.admin_socket(settings.data_dir), words, stdin, settings.clickhouse_url)
    sys.stdout.write(answer.stdout)
    sys.stderr.write(answer.stderr)
    return answer.status


if __name__ == "__main__":
    sys.exit(main())
