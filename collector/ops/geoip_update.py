"""``audience geoip update``: download the free GeoIP databases and swap them in atomically.

Two sources: DB-IP Lite (City and ASN; monthly files, no account; CC BY 4.0, which asks for an
attribution) and MaxMind GeoLite2 (City and ASN; a free account's licence key and its EULA).
Each database is downloaded and decompressed into a temporary file beside its destination, opened
and checked (its kind, a few lookups), synced, then renamed over the destination and the directory
synced: a reader of the old file keeps its mapping, nothing ever sees half a file, and any failure
leaves the installed file as it was. Running collectors notice the new file within seconds
(``GeoLocator.reload``).
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import logging
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal
from urllib.parse import urlencode, urlsplit

from collector import AudienceError
from collector.ops.geoip_files import (
    CITY_KINDS,
    OPERATOR_KINDS,
    GeoDatabaseError,
    open_database,
    probe,
)
from collector.ops.progress import BYTES, Progress, progress
from collector.settings import GEOIP_CITY_FILE, GEOIP_OPERATOR_FILE, Settings

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

log = logging.getLogger("audience.geoip")
DBIP_URL = "https://download.db-ip.com/free/"
MAXMIND_URL = "https://download.maxmind.com/app/geoip_download"
TIMEOUT_SECONDS = 60
MAX_BYTES = 2 * 2**30  # a City database is about 130 MB: past this, the download is refused
CHUNK_BYTES = 2**20
USER_AGENT = "kalido-audience-geoip-update"
DBIP_NOTICE = (
    "DB-IP Lite is licensed under CC BY 4.0: credit it where its data is shown, "
    'e.g. "IP Geolocation by DB-IP"'
)


class UpdateError(AudienceError):
    """A database could not be updated; the installed file is left as it was."""


@dataclass(frozen=True)
class Target:
    """One database to install: where, which kinds of database are accepted, its source names."""

    kind: Literal["city", "operator"]
    destination: Path
    accepted: tuple[str, ...]
    dbip_name: str
    maxmind_edition: str


@dataclass(frozen=True)
class Download:
    url: str
    shown: str  # the address without the licence key, for messages
    packing: Literal["gz", "tar.gz"]


def add_parser(commands: Any) -> None:
    geoip = commands.add_parser("geoip", help="manage the GeoIP databases")
    actions = geoip.add_subparsers(dest="geoip_command", required=True)
    update = actions.add_parser(
        "update", help="download the free City and ASN databases and swap them in atomically"
    )
    update.add_argument("--source", choices=("dbip", "maxmind"), default="dbip")
    update.add_argument(
        "--license-key", help="MaxMind's licence key (default: AUDIENCE_MAXMIND_LICENSE_KEY)"
    )
    update.add_argument("--base-url", help="download from this address instead (a mirror)")


def run(arguments: argparse.Namespace, settings: Settings) -> int:
    key = arguments.license_key or settings.maxmind_license_key
    if arguments.source == "maxmind" and not key:
        print(
            "audience: error: --source maxmind needs a licence key: --license-key or "
            "AUDIENCE_MAXMIND_LICENSE_KEY (a free MaxMind account gives one)",
            file=sys.stderr,
        )
        return 2
    today = datetime.now(UTC).date()
    failed = False
    for target in targets(settings):
        if arguments.source == "dbip":
            downloads = dbip_downloads(target, arguments.base_url or DBIP_URL, today)
        else:
            downloads = [maxmind_download(target, arguments.base_url or MAXMIND_URL, str(key))]
        try:
            print(update(target, downloads))
        except UpdateError as error:
            print(f"audience: error: {target.kind} database not updated: {error}", file=sys.stderr)
            failed = True
    if arguments.source == "dbip" and not failed:
        print(DBIP_NOTICE, file=sys.stderr)
    return 2 if failed else 0


def targets(settings: Settings) -> list[Target]:
    """The configured files, else the default ones under the data directory."""
    return [
        Target(
            "city",
            settings.geoip_city or settings.data_dir / GEOIP_CITY_FILE,
            CITY_KINDS,
            "city",
            "GeoLite2-City",
        ),
        Target(
            "operator",
            settings.geoip_operator or settings.data_dir / GEOIP_OPERATOR_FILE,
            ("ASN",),
            "asn",
            "GeoLite2-ASN",
        ),
    ]


def dbip_downloads(target: Target, base_url: str, today: date) -> list[Download]:
    """This month's file, then last month's (the new one appears in the first days)."""
    this_month = today.replace(day=1)
    last_month = (this_month - timedelta(days=1)).replace(day=1)
    base = base_url.rstrip("/")
    downloads = []
    for month in (this_month, last_month):
        url = f"{base}/dbip-{target.dbip_name}-lite-{month:%Y-%m}.mmdb.gz"
        downloads.append(Download(url, url, "gz"))
    return downloads


def maxmind_download(target: Target, base_url: str, key: str) -> Download:
    query = {"edition_id": target.maxmind_edition, "suffix": "tar.gz"}
    url = f"{base_url}?{urlencode({**query, 'license_key': key})}"
    return Download(url, f"{base_url}?{urlencode(query)}", "tar.gz")


def update(target: Target, downloads: list[Download]) -> str:
    """Install the first of ``downloads`` that exists; what was installed."""
    installed = _installed_type(target.destination)
    if target.kind == "operator" and installed and "ISP" in installed:
        return (
            f"{target.kind}: kept {target.destination}, a {installed} database "
            "(richer than the free ASN ones this command downloads)"
        )
    missing = []
    for download in downloads:
        response = _get(download)
        if response is None:
            missing.append(download.shown)
            continue
        title = f"{target.kind} database download"
        size = response.length  # the Content-Length; None when the server sent none
        with response, progress(title, size, unit=BYTES, logger=log) as shown:
            body = io.BufferedReader(_Counted(response, shown), CHUNK_BYTES)
            return _install(target, download, body, replaces=installed is not None)
    raise UpdateError(f"not found (HTTP 404): {', '.join(missing)}")


def _installed_type(path: Path) -> str | None:
    try:
        reader = open_database(path, CITY_KINDS + OPERATOR_KINDS)
    except (GeoDatabaseError, OSError):
        return None
    try:
        return reader.metadata().database_type
    finally:
        reader.close()


def _get(download: Download) -> http.client.HTTPResponse | None:
    """The response (its body not read yet), or None for a 404."""
    if urlsplit(download.url).scheme not in ("http", "https"):
        raise UpdateError(f"not an http(s) address: {download.shown}")
    request = urllib.request.Request(download.url, headers={"User-Agent": USER_AGENT})  # noqa: S310
    try:  # S310, B310: the scheme is http or https, checked above
        response = urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS)  # noqa: S310  # nosec B310
    except urllib.error.HTTPError as error:
        error.close()
        if error.code == 404:
            return None
        raise UpdateError(f"HTTP {error.code} {error.reason} from {download.shown}") from None
    except urllib.error.URLError as error:
        raise UpdateError(f"cannot download {download.shown}: {error.reason}") from None
    except (OSError, http.client.HTTPException) as error:
        raise UpdateError(f"cannot download {download.shown}: {error}") from None
    assert isinstance(response, http.client.HTTPResponse)
    return response


def _install(target: Target, download: Download, response: IO[bytes], *, replaces: bool) -> str:
    destination = target.destination
    directory = destination.parent
    directory.mkdir(parents=True, exist_ok=True)
    mode = destination.stat().st_mode & 0o777 if destination.exists() else 0o644
    fd, name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".part", dir=directory)
    draft = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            os.fchmod(out.fileno(), mode)
            _unpack(download, response, out)
            out.flush()
            os.fsync(out.fileno())
        described = _check(draft, target, download)
        os.replace(draft, destination)  # never written in place: collectors map the old file
    except BaseException:
        draft.unlink(missing_ok=True)
        raise
    _sync_directory(directory)
    line = f"{target.kind}: installed {described} as {destination} (from {download.shown})"
    if not replaces:
        line += "; a collector started without it uses it once restarted"
    return line


class _Counted(io.RawIOBase):
    """The response, counting the bytes read from the network as progress."""

    def __init__(self, response: http.client.HTTPResponse, shown: Progress) -> None:
        self._response = response
        self._shown = shown

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: WriteableBuffer) -> int:
        count = self._response.readinto(buffer)
        self._shown.advance(count)
        return count


def _unpack(download: Download, response: IO[bytes], out: IO[bytes]) -> None:
    try:
        if download.packing == "gz":
            with gzip.GzipFile(fileobj=response) as source:
                _copy(source.read, out, download)
            return
        with tarfile.open(fileobj=response, mode="r|gz") as archive:
            for member in archive:
                if member.isfile() and member.name.endswith(".mmdb"):
                    member_file = archive.extractfile(member)
                    assert member_file is not None  # a regular file
                    _copy(member_file.read, out, download)
                    return
        raise UpdateError(f"{download.shown} holds no .mmdb file")
    except (gzip.BadGzipFile, EOFError, zlib.error, tarfile.TarError) as error:
        raise UpdateError(
            f"{download.shown} is not a valid {download.packing} file ({error})"
        ) from None
    except TimeoutError:
        raise UpdateError(f"{download.shown}: timed out after {TIMEOUT_SECONDS} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise UpdateError(f"{download.shown}: download interrupted ({error!r})") from None


def _copy(read: Callable[[int], bytes], out: IO[bytes], download: Download) -> None:
    written = 0
    while chunk := read(CHUNK_BYTES):
        written += len(chunk)
        if written > MAX_BYTES:
            raise UpdateError(f"{download.shown} unpacks to more than {MAX_BYTES >> 20} MB")
        out.write(chunk)


def _check(draft: Path, target: Target, download: Download) -> str:
    """The new file opens as a database of the expected kind and answers a lookup."""
    try:
        reader = open_database(draft, target.accepted, name=download.shown)
    except GeoDatabaseError as error:
        raise UpdateError(str(error)) from None
    try:
        if not probe(reader):
            raise UpdateError(f"{download.shown} knows none of the test addresses (empty?)")
        metadata = reader.metadata()
    finally:
        reader.close()
    built = datetime.fromtimestamp(metadata.build_epoch, UTC).strftime("%Y-%m-%d")
    return f"{metadata.database_type} built {built}"


def _sync_directory(directory: Path) -> None:
    """The rename itself survives a crash once the directory is synced."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
