"""GeoLocator over the small databases of the geo_files fixture, and its refusal of bad files."""

from __future__ import annotations

import logging
import os
import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from collector.demo.geodb import write_city_db
from collector.ingest.geo import UNKNOWN, Geo, GeoLocator
from collector.ops.geoip_files import GeoDatabaseError
from tests.conftest import BRUSSELS_PROXIMUS, LYON_ORANGE, PARIS_FREE_V6, GeoFiles

METADATA_MARKER = b"\xab\xcd\xefMaxMind.com"
Damage = Callable[[Path, Path], Path]


@pytest.fixture
def isp_locator(geo_files: GeoFiles) -> Iterator[GeoLocator]:
    locator = GeoLocator(geo_files.city, geo_files.isp)
    yield locator
    locator.close()


@pytest.fixture
def asn_locator(geo_files: GeoFiles) -> Iterator[GeoLocator]:
    locator = GeoLocator(geo_files.city, geo_files.asn)
    yield locator
    locator.close()


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        pytest.param(LYON_ORANGE, Geo("Lyon", "FR", "Orange"), id="lyon-orange"),
        pytest.param("81.2.69.255", Geo("Lyon", "FR", "Orange"), id="end-of-network"),
        pytest.param(BRUSSELS_PROXIMUS, Geo("Brussels", "BE", "Proximus"), id="brussels"),
        pytest.param(PARIS_FREE_V6, Geo("Paris", "FR", "Free"), id="ipv6-paris-free"),
        pytest.param("2A01:0E0A:0001:0000::7", Geo("Paris", "FR", "Free"), id="ipv6-long-form"),
    ],
)
def test_city_country_and_isp(isp_locator: GeoLocator, ip: str, expected: Geo) -> None:
    assert isp_locator.locate(ip) == expected


@pytest.mark.parametrize(
    ("ip", "expected"),
    [
        pytest.param(LYON_ORANGE, Geo("Lyon", "FR", "Orange S.A."), id="lyon"),
        pytest.param(BRUSSELS_PROXIMUS, Geo("Brussels", "BE", "Proximus NV"), id="brussels"),
        pytest.param(PARIS_FREE_V6, Geo("Paris", "FR", ""), id="ipv6-not-in-asn-db"),
    ],
)
def test_asn_organisation_is_the_operator(asn_locator: GeoLocator, ip: str, expected: Geo) -> None:
    assert asn_locator.locate(ip) == expected


@pytest.mark.parametrize(
    "ip",
    [
        pytest.param("8.8.8.8", id="unknown-ipv4"),
        pytest.param("81.2.70.1", id="next-network"),
        pytest.param("10.0.0.1", id="private"),
        pytest.param("127.0.0.1", id="loopback"),
        pytest.param("2001:db8::1", id="unknown-ipv6"),
        pytest.param("::1", id="ipv6-loopback"),
        pytest.param("", id="empty"),
        pytest.param("not-an-ip", id="word"),
        pytest.param("999.1.1.1", id="octet-out-of-range"),
        pytest.param("81.2.69", id="three-octets"),
        pytest.param("81.2.69.42:443", id="with-port"),
        pytest.param("[2a01:e0a:1::7]", id="ipv6-bracketed"),
        pytest.param("1.2.3.4, 5.6.7.8", id="forwarded-list"),
    ],
)
def test_unknown_or_garbage_address_is_empty(isp_locator: GeoLocator, ip: str) -> None:
    assert isp_locator.locate(ip) == UNKNOWN == Geo("", "", "")


def test_no_databases_gives_empty_geo() -> None:
    locator = GeoLocator()
    assert locator.locate(LYON_ORANGE) == UNKNOWN
    assert locator.locate(PARIS_FREE_V6) == UNKNOWN
    locator.close()


def test_city_database_only(geo_files: GeoFiles) -> None:
    locator = GeoLocator(city_path=geo_files.city)
    assert locator.locate(LYON_ORANGE) == Geo("Lyon", "FR", "")
    locator.close()


def test_operator_database_only(geo_files: GeoFiles) -> None:
    locator = GeoLocator(operator_path=geo_files.isp)
    assert locator.locate(LYON_ORANGE) == Geo("", "", "Orange")
    locator.close()


def test_country_without_city(tmp_path: Path) -> None:
    path = write_city_db(tmp_path / "country.mmdb", {"192.0.2.0/24": ("", "DE")})
    locator = GeoLocator(city_path=path)
    assert locator.locate("192.0.2.9") == Geo("", "DE", "")
    locator.close()


def test_database_is_held_in_memory(tmp_path: Path, geo_files: GeoFiles) -> None:
    copy = tmp_path / "city.mmdb"
    copy.write_bytes(geo_files.city.read_bytes())
    locator = GeoLocator(city_path=copy)
    copy.unlink()
    assert locator.locate(LYON_ORANGE) == Geo("Lyon", "FR", "")
    locator.close()


def truncated(source: Path, target: Path) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: len(data) // 2])
    return target


def data_cut(source: Path, target: Path) -> Path:
    """The search tree's start and the metadata, the middle cut out: the tree runs off the end."""
    data = source.read_bytes()
    target.write_bytes(data[:200] + data[data.index(METADATA_MARKER) :])
    return target


def tree_damaged(source: Path, target: Path) -> Path:
    """Intact metadata over a search tree of garbage: only walking the tree can tell."""
    data = source.read_bytes()
    tree_end = data.index(METADATA_MARKER) - 16
    target.write_bytes(b"\xff" * tree_end + data[tree_end:])
    return target


def random_bytes(source: Path, target: Path) -> Path:
    target.write_bytes(random.Random(20240310).randbytes(4096))
    return target


def empty(source: Path, target: Path) -> Path:
    target.write_bytes(b"")
    return target


def missing(source: Path, target: Path) -> Path:
    return target


def directory(source: Path, target: Path) -> Path:
    target.mkdir()
    return target


DAMAGE = [
    pytest.param(missing, "no such file", id="missing"),
    pytest.param(directory, "not a valid MaxMind database", id="directory"),
    pytest.param(empty, "not a valid MaxMind database", id="empty"),
    pytest.param(random_bytes, "not a valid MaxMind database", id="random-bytes"),
    pytest.param(truncated, "not a valid MaxMind database", id="truncated"),
    pytest.param(data_cut, "not a valid MaxMind database", id="middle-cut-out"),
    pytest.param(tree_damaged, "is damaged", id="search-tree-damaged"),
]


@pytest.mark.parametrize(("damage", "problem"), DAMAGE)
def test_bad_city_database(
    tmp_path: Path, geo_files: GeoFiles, damage: Damage, problem: str
) -> None:
    path = damage(geo_files.city, tmp_path / "bad.mmdb")
    with pytest.raises(GeoDatabaseError) as caught:
        GeoLocator(city_path=path, operator_path=geo_files.isp)
    message = str(caught.value)
    assert message.startswith("AUDIENCE_GEOIP_CITY: ")
    assert str(path) in message
    assert problem in message


@pytest.mark.parametrize(("damage", "problem"), DAMAGE)
@pytest.mark.parametrize("kind", ["isp", "asn"])
def test_bad_operator_database(
    tmp_path: Path, geo_files: GeoFiles, damage: Damage, problem: str, kind: str
) -> None:
    path = damage(getattr(geo_files, kind), tmp_path / "bad.mmdb")
    with pytest.raises(GeoDatabaseError) as caught:
        GeoLocator(city_path=geo_files.city, operator_path=path)
    message = str(caught.value)
    assert message.startswith("AUDIENCE_GEOIP_OPERATOR: ")
    assert str(path) in message
    assert problem in message


def test_city_database_given_as_operator_database(geo_files: GeoFiles) -> None:
    with pytest.raises(GeoDatabaseError) as caught:
        GeoLocator(city_path=geo_files.city, operator_path=geo_files.city)
    assert str(caught.value) == (
        f"AUDIENCE_GEOIP_OPERATOR: {geo_files.city} is a GeoIP2-City database, not ISP or ASN"
    )


@pytest.mark.parametrize("kind", ["isp", "asn"])
def test_operator_database_given_as_city_database(geo_files: GeoFiles, kind: str) -> None:
    path = getattr(geo_files, kind)
    with pytest.raises(GeoDatabaseError) as caught:
        GeoLocator(city_path=path)
    message = str(caught.value)
    assert message.startswith(f"AUDIENCE_GEOIP_CITY: {path} is a ")
    assert message.endswith(" database, not City")


def test_damaged_record_found_at_lookup_gives_empty_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A damaged record the opening probe does not reach: a warning, never an exception."""
    path = write_city_db(
        tmp_path / "city.mmdb", {"81.2.69.0/24": ("Lyon", "FR"), "5.10.0.0/16": ("Brussels", "BE")}
    )
    data = bytearray(path.read_bytes())
    where = data.index(b"Brussels")
    data[where - 1 : where + 8] = b"\xff" * 9
    path.write_bytes(bytes(data))
    locator = GeoLocator(city_path=path)
    assert locator.locate(LYON_ORANGE) == Geo("Lyon", "FR", "")
    with caplog.at_level(logging.WARNING, logger="audience.geo"):
        assert locator.locate(BRUSSELS_PROXIMUS) == UNKNOWN
    assert "city database lookup failed" in caplog.text
    locator.close()


def renamed_over(target: Path, data: bytes) -> None:
    """Replace a database as ``audience geoip update`` does: a new file renamed over it."""
    draft = target.with_name(f".{target.name}.new")
    draft.write_bytes(data)
    os.replace(draft, target)


@pytest.fixture
def marseille(tmp_path: Path) -> bytes:
    """The city database's networks, now all in Marseille."""
    networks = {"81.2.69.0/24": "FR", "2a01:e0a::/32": "FR", "5.10.0.0/16": "BE"}
    built = tmp_path / "built"
    built.mkdir()
    path = write_city_db(
        built / "marseille.mmdb", {n: ("Marseille", c) for n, c in networks.items()}
    )
    return path.read_bytes()


def test_reload_uses_a_database_renamed_over_its_file(
    tmp_path: Path, geo_files: GeoFiles, marseille: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    city = tmp_path / "city.mmdb"
    city.write_bytes(geo_files.city.read_bytes())
    locator = GeoLocator(city, geo_files.isp)
    assert locator.reload() == []  # nothing changed
    renamed_over(city, marseille)
    with caplog.at_level(logging.INFO, logger="audience.geo"):
        assert locator.reload() == ["city"]
    assert locator.locate(LYON_ORANGE) == Geo("Marseille", "FR", "Orange")
    assert "city database reloaded: city.mmdb, GeoIP2-City built " in caplog.text
    assert locator.reload() == []
    locator.close()


def test_reload_takes_an_asn_database_in_place_of_an_isp_one(
    tmp_path: Path, geo_files: GeoFiles
) -> None:
    operator = tmp_path / "operator.mmdb"
    operator.write_bytes(geo_files.isp.read_bytes())
    locator = GeoLocator(geo_files.city, operator)
    assert locator.locate(LYON_ORANGE).operator == "Orange"
    renamed_over(operator, geo_files.asn.read_bytes())
    assert locator.reload() == ["operator"]
    assert locator.locate(LYON_ORANGE) == Geo("Lyon", "FR", "Orange S.A.")
    locator.close()


def removed(source: Path, target: Path) -> Path:
    target.unlink()
    return target


def operator_database(source: Path, target: Path) -> Path:
    target.write_bytes((source.parent / "asn.mmdb").read_bytes())
    return target


@pytest.mark.parametrize(
    ("damage", "problem"),
    [
        pytest.param(random_bytes, "is not a valid MaxMind database", id="random-bytes"),
        pytest.param(truncated, "is not a valid MaxMind database", id="truncated"),
        pytest.param(tree_damaged, "is damaged", id="search-tree-damaged"),
        pytest.param(operator_database, "is a GeoLite2-ASN database, not City", id="wrong-type"),
        pytest.param(removed, "cannot read the city database city.mmdb", id="removed"),
    ],
)
def test_reload_keeps_the_database_in_use_when_the_new_file_is_bad(
    tmp_path: Path,
    geo_files: GeoFiles,
    marseille: bytes,
    caplog: pytest.LogCaptureFixture,
    damage: Damage,
    problem: str,
) -> None:
    city = tmp_path / "city.mmdb"
    city.write_bytes(geo_files.city.read_bytes())
    locator = GeoLocator(city_path=city)
    if damage is removed:
        damage(geo_files.city, city)
    else:  # written beside it, then renamed over it
        os.replace(damage(geo_files.city, tmp_path / ".city.mmdb.new"), city)
    with caplog.at_level(logging.INFO, logger="audience.geo"):
        assert locator.reload() == []
    assert caplog.records[-1].levelname == "ERROR"
    assert "keeping the one in use" in caplog.text
    assert problem in caplog.text
    assert locator.locate(LYON_ORANGE) == Geo("Lyon", "FR", "")  # the old mapping still answers
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="audience.geo"):
        assert locator.reload() == []  # the same bad file is not tried, nor logged, again
    assert caplog.text == ""
    renamed_over(city, marseille)
    assert locator.reload() == ["city"]
    assert locator.locate(LYON_ORANGE) == Geo("Marseille", "FR", "")
    locator.close()


def test_lookups_on_other_threads_while_the_database_is_swapped(
    tmp_path: Path, geo_files: GeoFiles, marseille: bytes
) -> None:
    """The old reader is dropped, not closed: a lookup in flight on another thread finishes on it,
    and every answer comes whole from one database or the other."""
    city = tmp_path / "city.mmdb"
    city.write_bytes(geo_files.city.read_bytes())
    locator = GeoLocator(city, geo_files.isp)
    stop = threading.Event()
    answers: list[set[Geo]] = []

    def look_up() -> None:
        seen = set()
        while not stop.is_set():
            seen.add(locator.locate(LYON_ORANGE))
        answers.append(seen)

    threads = [threading.Thread(target=look_up) for _ in range(2)]
    for thread in threads:
        thread.start()
    try:
        for swap in range(12):
            renamed_over(city, marseille if swap % 2 == 0 else geo_files.city.read_bytes())
            assert locator.reload() == ["city"]
    finally:
        stop.set()
        for thread in threads:
            thread.join(10)
    assert len(answers) == 2
    assert set().union(*answers) <= {Geo("Lyon", "FR", "Orange"), Geo("Marseille", "FR", "Orange")}
    locator.close()
