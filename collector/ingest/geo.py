"""IP address -> Geo(city, country, operator), from MaxMind-format databases.

The city database may be GeoIP2/GeoLite2/DB-IP City; the operator database a GeoIP2-ISP (its
``isp`` is the operator) or an ASN database (its organisation is). Unknown or unparsable addresses
give empty values, never an error: the IP is only ever an argument here, never kept.

Lookups go through libmaxminddb (the C extension of ``maxminddb``) over a memory-mapped file when it
is installed, and read the three fields they need straight from the record: a few microseconds,
where geoip2's pure-Python reader and model objects took about 30 per database.

A database is replaced by renaming a new file over it, never by rewriting it in place (the old
file stays mapped, and a rewrite under the mapping can crash the process): ``audience geoip
update`` does so. ``reload()``, which the app calls every ``RELOAD_SECONDS`` off the event loop,
notices the new file (its inode, size or time changed), opens and checks it, then swaps the reader
in one assignment. The old reader is dropped, not closed: a lookup running on another thread holds
its own reference, and the mapping goes with the last one. A new file that fails its checks is
logged and the database in use is kept.
"""

from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

import maxminddb
from maxminddb import Reader

from collector.ops.geoip_files import CITY_KINDS, OPERATOR_KINDS, GeoDatabaseError, open_database

log = logging.getLogger("audience.geo")

RELOAD_SECONDS = 5.0


class Geo(NamedTuple):
    city: str = ""
    country: str = ""
    operator: str = ""


UNKNOWN = Geo()
Stamp = tuple[int, int, int, int]  # device, inode, size, modification time


@dataclass(frozen=True)
class _Database:
    """One open database and the file it came from, swapped as a whole on reload."""

    reader: Reader
    stamp: Stamp
    field: str  # the operator's field in a record: "isp", else the ASN organisation


class GeoLocator:
    """Looks addresses up in an optional city and an optional operator database."""

    def __init__(self, city_path: Path | None = None, operator_path: Path | None = None) -> None:
        self._paths = {"city": city_path, "operator": operator_path}
        self._city = _load(city_path, "city") if city_path else None
        self._operator = _load(operator_path, "operator") if operator_path else None
        self._seen: dict[str, Stamp | None] = {
            kind: database.stamp if database else None
            for kind, database in (("city", self._city), ("operator", self._operator))
        }
        self._reloading = threading.Lock()

    def locate(self, ip: str) -> Geo:
        if not ip:
            return UNKNOWN
        city, country = self._city_of(ip)
        return Geo(city=city, country=country, operator=self._operator_of(ip))

    def _city_of(self, ip: str) -> tuple[str, str]:
        record = _lookup(self._city, ip, "city")
        if not record:
            return "", ""
        city = record.get("city", {}).get("names", {}).get("en", "")
        country = record.get("country", {}).get("iso_code", "")
        return str(city), str(country)

    def _operator_of(self, ip: str) -> str:
        database = self._operator
        record = _lookup(database, ip, "operator")
        if not record or database is None:
            return ""
        return str(record.get(database.field) or "")

    def reload(self) -> list[str]:
        """Open again the databases whose file was replaced; the kinds reloaded."""
        with self._reloading:
            return [kind for kind in ("city", "operator") if self._reload(kind)]

    def _reload(self, kind: str) -> bool:
        path = self._paths[kind]
        if path is None:
            return False
        stamp: Stamp | None = None
        problem = ""
        try:
            stamp = _stamp(path)
        except OSError as error:  # renamed away, say: the mapped file still answers
            problem = error.strerror or str(error)
        if stamp == self._seen[kind]:  # unchanged, or refused already and not changed since
            return False
        self._seen[kind] = stamp
        if stamp is None:
            log.error(
                "cannot read the %s database %s, keeping the one in use: %s",
                kind,
                path.name,
                problem,
            )
            return False
        try:
            fresh = _load(path, kind)
        except GeoDatabaseError as error:
            log.error("not reloading the %s database, keeping the one in use: %s", kind, error)
            return False
        if kind == "city":  # one assignment: a lookup uses the old reader or the new one
            self._city = fresh
        else:
            self._operator = fresh
        metadata = fresh.reader.metadata()
        built = datetime.fromtimestamp(metadata.build_epoch, UTC).strftime("%Y-%m-%d %H:%M")
        log.info(
            "%s database reloaded: %s, %s built %s UTC",
            kind,
            path.name,
            metadata.database_type,
            built,
        )
        return True

    def close(self) -> None:
        for database in (self._city, self._operator):
            if database is not None:
                database.reader.close()


def _lookup(database: _Database | None, ip: str, kind: str) -> dict[str, Any] | None:
    if database is None:
        return None
    try:
        record = database.reader.get(ip)
    except ValueError:  # not an IP address, or IPv6 in an IPv4-only database
        return None
    except maxminddb.InvalidDatabaseError:
        log.warning("%s database lookup failed: the database is damaged", kind)
        return None
    return record if isinstance(record, dict) else None


def _stamp(path: Path) -> Stamp:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _load(path: Path, kind: str) -> _Database:
    variable, kinds = (
        ("AUDIENCE_GEOIP_CITY", CITY_KINDS)
        if kind == "city"
        else ("AUDIENCE_GEOIP_OPERATOR", OPERATOR_KINDS)
    )
    try:
        stamp = _stamp(path)  # before opening: a file replaced meanwhile is opened again later
        reader = open_database(path, kinds)
    except FileNotFoundError:
        raise GeoDatabaseError(f"{variable}: no such file: {path}") from None
    except OSError as error:
        raise GeoDatabaseError(f"{variable}: cannot read {path}: {error.strerror}") from None
    except GeoDatabaseError as error:
        raise GeoDatabaseError(f"{variable}: {error}") from None
    field = "isp" if "ISP" in reader.metadata().database_type else "autonomous_system_organization"
    return _Database(reader, stamp, field)
