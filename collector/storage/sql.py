"""The one loader of SQL files: ``load(package, name)`` is ``<package>/<name>.sql``, package data.

Comment lines (``--``) are left out, and ``/* include NAME */`` is replaced by the file NAME of
the same folder (``/* include PACKAGE:NAME */``: by PACKAGE's file NAME), so that a subquery used
by several statements, or by two wings, is written once. Every read and every statement of the
product that is not DDL (schema/) comes from such a file, its values bound on the server
(``{name:Type}``), never formatted into the text.
"""

from __future__ import annotations

import importlib.resources
import re
from functools import cache

_INCLUDE = re.compile(r"/\* include (?:(?P<package>[a-z_.]+):)?(?P<name>[a-z_/]+) \*/")


@cache
def load(package: str, name: str) -> str:
    """The statement of ``name``.sql (a path under ``package``, without its suffix)."""
    text = importlib.resources.files(package).joinpath(f"{name}.sql").read_text()
    sql = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    folder = name.rpartition("/")[0]
    return _INCLUDE.sub(lambda found: _included(package, folder, found), sql).strip()


def _included(package: str, folder: str, found: re.Match[str]) -> str:
    if found["package"]:
        return load(found["package"], found["name"])
    return load(package, f"{folder}/{found['name']}" if folder else found["name"])


def statement(name: str) -> str:
    """A statement of the storage and privacy wings: ``collector/storage/sql/<name>.sql``."""
    return load("collector.storage", f"sql/{name}")
