"""The ``audience`` command: its arguments, the start step, and where each command runs.

A command that uses the store runs in this process, or, when a running ``audience serve`` holds
the embedded store, in that server through its admin socket (``collector.console.admin``), with the
same output and exit status.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from collector.console import admin, commands
from collector.console.arguments import build_parser, one_line
from collector.console.commands import ERRORS, STORE_COMMANDS, Context
from collector.ops import geoip_update, logs, startup
from collector.settings import Settings
from collector.storage.store import embedded_store_in_use


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


def _run(arguments: argparse.Namespace, settings: Settings) -> int:
    if arguments.command == "serve":
        from collector.serve import serve  # imports uvicorn only when serving

        demo = None
        if arguments.demo:
            from collector.demo.site import Demo

            demo = Demo()
        return serve(settings, arguments.host, arguments.port, arguments.workers, demo)
    if arguments.command == "geoip":
        return geoip_update.run(arguments, settings)
    context = Context(settings, sys.stdout, sys.stderr, sys.stdin, commands.opened_store(settings))
    return commands.run(arguments, context)


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
