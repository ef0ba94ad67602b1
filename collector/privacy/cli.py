"""``audience privacy``: the DPO's tools for a visitor's request received by e-mail or letter.

The visitor gives the identifier shown on their privacy page (``/privacy``); the DPO exports or
erases that visitor's data, and reads the audit log of rights requests.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

import orjson

from collector.privacy.rights import VisitorRights, events_csv
from collector.settings import Settings
from collector.storage.erased import format_visitor_id, parse_visitor_id
from collector.storage.store import Store
from collector.storage.writer import Writer


def add_parser(commands: Any) -> None:
    privacy = commands.add_parser("privacy", help="a visitor's rights: export, erase, audit log")
    actions = privacy.add_subparsers(dest="privacy_command", required=True)
    export = actions.add_parser("export", help="print every stored event of a visitor")
    export.add_argument("--visitor", required=True, metavar="ID", type=_visitor_id)
    export.add_argument("--format", choices=("json", "csv"), default="json")
    erase = actions.add_parser("erase", help="erase every event of a visitor, for good")
    erase.add_argument("--visitor", required=True, metavar="ID", type=_visitor_id)
    log = actions.add_parser("log", help="the audit log of rights requests (no personal data)")
    log.add_argument("--visitor", metavar="ID", type=_visitor_id, help="only this visitor's")
    log.add_argument("--limit", type=int, default=100)


def _visitor_id(text: str) -> int:
    try:
        return parse_visitor_id(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def run(
    arguments: argparse.Namespace,
    settings: Settings,
    store: Store,
    writer: Writer | None,
    out: TextIO,
    err: TextIO,
) -> int:
    """Carry out the command on ``store``; erasures go through ``writer`` when the serving
    process runs this (its writer rebuilds the rollups between two of its batches)."""
    rights = VisitorRights(store, settings.secret_key, settings.retention_months, writer)
    command = arguments.privacy_command
    if command == "export":
        events = rights.export(arguments.visitor, "dpo")
        if arguments.format == "csv":
            out.write(events_csv(events))
        else:
            visitor = format_visitor_id(arguments.visitor)
            document = {"visitor": visitor, "events": events}
            out.write(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
            out.write("\n")
        print(f"{len(events)} events exported", file=err)
    elif command == "erase":
        erasure = rights.erase(arguments.visitor, "dpo")
        visitor = format_visitor_id(arguments.visitor)
        if erasure.events is None:
            print(f"visitor {visitor}: erasure scheduled, the store is slow to answer", file=out)
        else:
            print(f"visitor {visitor} erased: {erasure.events} events deleted", file=out)
        if not settings.is_embedded:
            print(
                "running collectors drop this visitor's events within seconds and erase"
                " again what they stored meanwhile",
                file=err,
            )
    else:
        for entry in rights.audit_log(arguments.visitor, arguments.limit):
            at = entry["at"].isoformat(timespec="milliseconds")
            subject = format_visitor_id(entry["subject"])
            fields = (at, entry["action"], entry["channel"], entry["outcome"])
            print("\t".join((*fields, str(entry["events"]), subject)), file=out)
    return 0
