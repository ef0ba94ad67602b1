"""Write small MaxMind-format databases: the demo's made-up geography, and the tests' fixtures.

Only used by ``audience serve --demo`` and by tests; production reads real GeoIP2, GeoLite2 or
DB-IP files.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from mmdb_writer import MMDBWriter
from netaddr import IPSet


def _writer(database_type: str) -> MMDBWriter:
    return MMDBWriter(
        ip_version=6,
        ipv4_compatible=True,
        database_type=database_type,
        languages=["en"],
        description="Kalido Audience generated database",
    )


def write_city_db(path: Path, networks: Mapping[str, tuple[str, str]]) -> Path:
    """``networks`` maps a CIDR to (city name, ISO country code)."""
    writer = _writer("GeoIP2-City")
    for cidr, (city, country) in networks.items():
        record: dict[str, object] = {"country": {"iso_code": country, "names": {"en": country}}}
        if city:
            record["city"] = {"names": {"en": city}}
        writer.insert_network(IPSet([cidr]), record)
    writer.to_db_file(str(path))
    return path


def write_isp_db(path: Path, networks: Mapping[str, str]) -> Path:
    """``networks`` maps a CIDR to the ISP or carrier name (GeoIP2-ISP layout)."""
    writer = _writer("GeoIP2-ISP")
    for cidr, isp in networks.items():
        writer.insert_network(IPSet([cidr]), {"isp": isp, "organization": isp})
    writer.to_db_file(str(path))
    return path


def write_asn_db(path: Path, networks: Mapping[str, tuple[int, str]]) -> Path:
    """``networks`` maps a CIDR to (AS number, organisation) (GeoLite2-ASN layout)."""
    writer = _writer("GeoLite2-ASN")
    for cidr, (number, organisation) in networks.items():
        writer.insert_network(
            IPSet([cidr]),
            {"autonomous_system_number": number, "autonomous_system_organization": organisation},
        )
    writer.to_db_file(str(path))
    return path
