"""GeoIP database files: their kinds, opening one with its checks, probing its search tree.

Shared by the lookups of the ingest wing (``collector.ingest.geo``) and by ``audience geoip
update``, which checks a download the same way before renaming it over the file in use.
"""

from __future__ import annotations

from pathlib import Path

import maxminddb
from maxminddb import Reader

from collector import AudienceError

CITY_KINDS = ("City",)
OPERATOR_KINDS = ("ISP", "ASN")
PROBES = ("1.1.1.1", "8.8.8.8", "81.2.69.160", "2a02::1")


class GeoDatabaseError(AudienceError):
    """A configured GeoIP database is missing, corrupt or of the wrong kind."""


def open_database(path: Path, kinds: tuple[str, ...], name: str = "") -> Reader:
    """Open a database (memory-mapped), check its kind and that a lookup walks its tree.
    ``name`` stands for the path in the errors (a download's address, say)."""
    name = name or str(path)
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError:
        raise
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as error:
        raise GeoDatabaseError(f"{name} is not a valid MaxMind database ({error})") from None
    database_type = reader.metadata().database_type
    if not any(kind in database_type for kind in kinds):
        reader.close()
        raise GeoDatabaseError(f"{name} is a {database_type} database, not {' or '.join(kinds)}")
    try:
        probe(reader)
    except maxminddb.InvalidDatabaseError as error:
        reader.close()
        raise GeoDatabaseError(f"{name} is damaged ({error})") from None
    return reader


def probe(reader: Reader) -> int:
    """Walk the search tree for a few addresses, so a damaged file fails now and not per request;
    how many of them the database knows."""
    found = 0
    for address in PROBES:
        try:
            found += reader.get(address) is not None
        except ValueError:
            continue  # an IPv6 address in an IPv4-only database
    return found
