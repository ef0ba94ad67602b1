"""IP address -> Geo(city, country, operator), from MaxMind-format databases.

The city database may be GeoIP2/GeoLite2/DB-IP City; the operator database a GeoIP2-ISP (its
``isp`` is the operator) or an ASN database (its organisation is). Unknown or unparsable addresses
give empty values, never an error: the IP is only ever an argument here, never kept.

Lookups go through libmaxminddb (the C extension of ``maxminddb``) over a memory-mapped file when it
is installed, and read the three fields they need straight from the record: a few microseconds,
where geoip2's pure-Python reader and model objects took about 30 per database. A database is
replaced by renaming a new file over it (never by rewriting it in place) and a restart.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, NamedTuple

import maxminddb
from maxminddb import Reader

log = logging.getLogger("audience.geo")


class GeoDatabaseError(RuntimeError):
    """A configured GeoIP database is missing, corrupt or of the wrong kind."""


class Geo(NamedTuple):
    city: str = ""
    country: str = ""
    operator: str = ""


UNKNOWN = Geo()


class GeoLocator:
    """Looks addresses up in an optional city and an optional operator database."""

    def __init__(self, city_path: Path | None = None, operator_path: Path | None = None) -> None:
        self._city = _open(city_path, "AUDIENCE_GEOIP_CITY", ("City",)) if city_path else None
        self._operator = (
            _open(operator_path, "AUDIENCE_GEOIP_OPERATOR", ("ISP", "ASN"))
            if operator_path
            else None
        )
        self._operator_is_isp = bool(
            self._operator and "ISP" in self._operator.metadata().database_type
        )

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
        record = _lookup(self._operator, ip, "operator")
        if not record:
            return ""
        field = "isp" if self._operator_is_isp else "autonomous_system_organization"
        return str(record.get(field) or "")

    def close(self) -> None:
        for reader in (self._city, self._operator):
            if reader is not None:
                reader.close()


def _lookup(reader: Reader | None, ip: str, kind: str) -> dict[str, Any] | None:
    if reader is None:
        return None
    try:
        record = reader.get(ip)
    except ValueError:  # not an IP address, or IPv6 in an IPv4-only database
        return None
    except maxminddb.InvalidDatabaseError:
        log.warning("%s database lookup failed: the database is damaged", kind)
        return None
    return record if isinstance(record, dict) else None


def _open(path: Path, variable: str, kinds: tuple[str, ...]) -> Reader:
    """Open a database (memory-mapped), check its kind and that a lookup walks its tree."""
    try:
        reader = maxminddb.open_database(str(path), maxminddb.MODE_AUTO)
    except FileNotFoundError:
        raise GeoDatabaseError(f"{variable}: no such file: {path}") from None
    except (maxminddb.InvalidDatabaseError, ValueError, OSError) as error:
        raise GeoDatabaseError(
            f"{variable}: {path} is not a valid MaxMind database ({error})"
        ) from None
    database_type = reader.metadata().database_type
    if not any(kind in database_type for kind in kinds):
        reader.close()
        expected = " or ".join(kinds)
        raise GeoDatabaseError(f"{variable}: {path} is a {database_type} database, not {expected}")
    _probe(reader, variable, path)
    return reader


def _probe(reader: Reader, variable: str, path: Path) -> None:
    """Walk the search tree for a few addresses so a damaged file fails now, not per request."""
    try:
        for address in ("1.1.1.1", "8.8.8.8", "81.2.69.160", "2a02::1"):
            try:
                reader.get(address)
            except ValueError:
                continue  # an IPv6 address in an IPv4-only database
    except maxminddb.InvalidDatabaseError as error:
        reader.close()
        raise GeoDatabaseError(f"{variable}: {path} is damaged ({error})") from None
