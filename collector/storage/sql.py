"""The one loader of SQL files: ``load(package, name)`` is ``<package>/<name>.sql``, package data.

Comment lines (``--``) are left out, and ``/* include NAME */`` is replaced by the file NAME of
the same folder, so that a subquery used by several statements is written once. Every read and
every statement of the product that is not DDL (schema/) comes from such a file, its values
bound on the server (``{name:Type}``), never formatted into the text.
"""

from __future__ import annotations

import importlib.resources
import re
from functools import cache

_INCLUDE = re.compile(r"/\* include ([a-z_/]+) \*/")


@cache
def load(package: str, name: str) -> str:
    """The statement of ``name``.sql (a path under ``package``, without its suffix)."""
    text = importlib.resources.files(package).joinpath(f"{name}.sql").read_text()
    sql = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("--"))
    folder = name.rpartition("/")[0]
    return _INCLUDE.sub(
        lambda found: load(package, f"{folder}/{found.group(1)}" if folder else found.group(1)),
        sql,
    ).strip()


def statement(name: str) -> str:
    """A statement of the storage and privacy wings: ``collector/storage/sql/<name>.sql``."""
    return load("collector.storage", f"sql/{name}")
