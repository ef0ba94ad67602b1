"""Where the collector's Unix sockets live (the store owner's, the admin socket), and the private
directory that holds them: a socket answers as the collector, to whoever can reach it.

Apart from the forwarder (and its HTTP client) so that the CLI, which only asks the admin
socket, starts without importing it.
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from pathlib import Path

MAX_SOCKET_PATH = 100  # the kernel's limit is 108 bytes


def owner_socket(data_dir: Path) -> Path:
    """Where the store owner listens for its workers."""
    return runtime_socket(data_dir, "owner.sock")


def runtime_socket(data_dir: Path, name: str) -> Path:
    """A socket of the collector's: under the data directory, or in the temporary directory
    when that path would be too long for a Unix socket (the same one for every process)."""
    path = data_dir / "run" / name
    if len(os.fsencode(path)) < MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"audience-{digest}" / name


def private_directory(directory: Path) -> None:
    """Make ``directory`` (mode 0700) or check that an existing one is a real directory of this
    user's: the socket in it answers as the collector, to whoever can reach it."""
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    found = directory.lstat()
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid():
        raise PermissionError(f"{directory} is not a directory of this user's")
    directory.chmod(0o700)
