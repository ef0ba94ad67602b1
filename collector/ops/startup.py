"""The start step: what a process needs on disk, made explicitly before anything runs.

Reading settings writes nothing. Before a command or ``serve`` uses them, ``prepare`` makes the
data directory (mode 0700: it holds the secret, the spool and the embedded store), the spool
directory, the embedded store's directory, and the secret file when ``AUDIENCE_SECRET_KEY`` is
unset. Each directory is checked by writing into it, which holds for root too, whom permission
bits do not stop. A directory that cannot be made or written stops the start with one line naming
the variable that chose it.
"""

from __future__ import annotations

import os
import secrets
import stat
from dataclasses import replace
from pathlib import Path

from collector.settings import PREFIX, Settings, SettingsError, read_secret_file

PRIVATE = 0o700


def prepare(settings: Settings) -> Settings:
    """Make the directories and the secret; the settings with the secret filled in."""
    private_directory(settings.data_dir, "DATA_DIR")
    default_spool = settings.spool_dir == settings.data_dir / "spool"
    private_directory(settings.spool_dir, "DATA_DIR" if default_spool else "SPOOL_DIR")
    store_dir = embedded_store_directory(settings)
    if store_dir is not None:
        private_directory(store_dir, store_variable(settings).removeprefix(PREFIX))
    if settings.secret is not None:
        return settings
    return replace(settings, secret=_make_secret(settings.secret_file))


def store_variable(settings: Settings) -> str:
    """The variable that chose the store: AUDIENCE_CLICKHOUSE_URL, or AUDIENCE_DATA_DIR for the
    embedded store's default place."""
    default = f"chdb://{settings.data_dir / 'clickhouse'}"
    return PREFIX + ("DATA_DIR" if settings.clickhouse_url == default else "CLICKHOUSE_URL")


def embedded_store_directory(settings: Settings) -> Path | None:
    """The directory of the embedded store, None for a ClickHouse server."""
    if not settings.is_embedded:
        return None
    path = settings.clickhouse_url.removeprefix("chdb://").removeprefix("chdb:")
    return Path(path.split("?", 1)[0]).expanduser().resolve()


def private_directory(path: Path, variable: str) -> None:
    """``path`` exists, is a directory this process can write in, and is closed to others
    (when this user owns it); else SettingsError naming ``variable``."""
    try:
        path.mkdir(mode=PRIVATE, parents=True, exist_ok=True)
    except FileExistsError:
        raise _unusable(variable, path, "it is not a directory") from None
    except OSError as error:
        raise _unusable(variable, path, error.strerror or str(error)) from None
    found = path.stat()
    if not stat.S_ISDIR(found.st_mode):
        raise _unusable(variable, path, "it is not a directory")
    if found.st_uid == os.geteuid() and stat.S_IMODE(found.st_mode) != PRIVATE:
        path.chmod(PRIVATE)
    probe = path / f".write-probe-{os.getpid()}-{secrets.token_hex(4)}"
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as error:
        raise _unusable(variable, path, f"cannot write in it ({error.strerror})") from None


def _unusable(variable: str, path: Path, problem: str) -> SettingsError:
    return SettingsError(f"{PREFIX}{variable}: cannot use {path}: {problem}")


def _make_secret(path: Path) -> bytes:
    """The secret kept in ``path``, made whole once (written, synced, then linked into place:
    of two processes starting together, the first link wins and both read it)."""
    secret = read_secret_file(path)
    if secret is not None:
        return secret
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    except OSError as error:
        raise SettingsError(
            f"{PREFIX}SECRET_KEY: unset, and {path} cannot be made: {error.strerror}"
        ) from None
    made = read_secret_file(path)
    assert made is not None, "the file was just linked into place"
    return made
