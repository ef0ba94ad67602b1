"""IP address -> Geo(city, country, operator), from MaxMind-format databases held in memory.

The city database may be GeoIP2/GeoLite2/DB-IP City; the operator database a GeoIP2-ISP (its
``isp`` is the operator) or an ASN database (its organisation is). Unknown or unparsable addresses
give empty values, never an error: the IP is only ever an argument here, never kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import geoip2.database
import geoip2.errors
import maxminddb

log = logging.getLogger("audience.geo")


class GeoDatabaseError(RuntimeError):
    """A configured GeoIP database is missing, corrupt or of the wrong kind."""


@dataclass(frozen=True, slots=True)
class Geo:
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
        if self._city is None:
            return "", ""
        try:
            found = self._city.city(ip)
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return "", ""
        except maxminddb.InvalidDatabaseError:
            log.warning("city database lookup failed: the database is damaged")
            return "", ""
        return found.city.name or "", found.country.iso_code or ""

    def _operator_of(self, ip: str) -> str:
        if self._operator is None:
            return ""
        try:
            if self._operator_is_isp:
                return self._operator.isp(ip).isp or ""
            return self._operator.asn(ip).autonomous_system_organization or ""
        except (geoip2.errors.AddressNotFoundError, ValueError):
            return ""
        except maxminddb.InvalidDatabaseError:
            log.warning("operator database lookup failed: the database is damaged")
            return ""

    def close(self) -> None:
        for reader in (self._city, self._operator):
            if reader is not None:
                reader.close()


def _open(path: Path, variable: str, kinds: tuple[str, ...]) -> geoip2.database.Reader:
    """Open a database fully in memory, check its kind and that a lookup walks its tree."""
    try:
        reader = geoip2.database.Reader(str(path), mode=maxminddb.MODE_MEMORY)
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


def _probe(reader: geoip2.database.Reader, variable: str, path: Path) -> None:
    """Walk the search tree for a few addresses so a damaged file fails now, not per request."""
    raw = reader._db_reader  # the maxminddb reader geoip2 wraps
    try:
        for address in ("1.1.1.1", "8.8.8.8", "81.2.69.160", "2a02::1"):
            try:
                raw.get(address)
            except ValueError:
                continue  # an IPv6 address in an IPv4-only database
    except maxminddb.InvalidDatabaseError as error:
        reader.close()
        raise GeoDatabaseError(f"{variable}: {path} is damaged ({error})") from None
