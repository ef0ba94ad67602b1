"""The admin socket: administrative commands carried out by the server that holds the store.

The embedded store may be opened by one process at a time. While ``audience serve`` runs, that
process serves this socket, in a directory only its user may enter (``collector.web.forward``'s
``private_directory``), and answers only clients of the same user (or root), by the kernel's
peer credentials. ``audience sites|users|keys|privacy|retention|migrate`` started in another shell
send their arguments here; the server runs them with its own store and writer
(``collector.console.commands``) and sends back their output and exit status.

One request per connection: a JSON document ``{"argv": [...], "stdin": "..."}``, the client's
end of the connection closed; the answer ``{"status": N, "stdout": "...", "stderr": "..."}``.
Commands run one at a time, off the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import socket
import struct
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import orjson

from collector.storage.errors import StoreError
from collector.web.sockets import private_directory, runtime_socket

log = logging.getLogger("audience.admin")

MAX_REQUEST_BYTES = 1 << 20
CONNECT_SECONDS = 5.0
ADMIN_SOCKET = "admin.sock"
_PEER_CREDENTIALS = struct.Struct("3i")  # pid, uid, gid


class Answer(NamedTuple):
    status: int
    stdout: str
    stderr: str


# Runs one command: (argv, standard input) -> its answer. Called on a worker thread.
Runner = Callable[[list[str], io.StringIO], Answer]


def admin_socket(data_dir: Path) -> Path:
    return runtime_socket(data_dir, ADMIN_SOCKET)


class AdminServer:
    def __init__(self, path: Path, runner: Runner) -> None:
        self.path = path
        self.runner = runner
        self._server: asyncio.base_events.Server | None = None
        self._one_at_a_time = asyncio.Lock()

    async def start(self) -> None:
        try:
            private_directory(self.path.parent)
            self.path.unlink(missing_ok=True)  # left by a process that was killed
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.path))
        except OSError as error:
            raise StoreError(f"cannot serve the admin socket {self.path}: {error}") from error

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
            with contextlib.suppress(OSError):
                self.path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            answer = await self._answer(reader, writer.get_extra_info("socket"))
            writer.write(orjson.dumps(answer._asdict()))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError) as error:
            log.warning("an admin client went away: %s", error)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, peer: socket.socket) -> Answer:
        if not _same_user(peer):
            return Answer(2, "", "audience: error: the admin socket serves its own user only\n")
        data = await reader.read(MAX_REQUEST_BYTES + 1)
        try:
            if len(data) > MAX_REQUEST_BYTES:
                raise ValueError("request too large")
            request = orjson.loads(data)
            argv = [str(word) for word in request["argv"]]
            stdin = io.StringIO(str(request.get("stdin", "")))
        except (ValueError, KeyError, TypeError) as error:
            return Answer(2, "", f"audience: error: not an admin request: {error}\n")
        async with self._one_at_a_time:
            log.info("admin command: audience %s", " ".join(argv[:2]))
            return await asyncio.get_running_loop().run_in_executor(None, self.runner, argv, stdin)


def _same_user(peer: socket.socket) -> bool:
    credentials = peer.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEER_CREDENTIALS.size)
    _, uid, _ = _PEER_CREDENTIALS.unpack(credentials)
    return uid in (os.geteuid(), 0)


def ask(path: Path, argv: list[str], stdin: str, store_url: str) -> Answer:
    """Have the server holding the store run ``audience ARGV``; StoreError when none answers."""
    request = orjson.dumps({"argv": argv, "stdin": stdin})
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(CONNECT_SECONDS)
            connection.connect(str(path))
            connection.settimeout(None)  # a command may take long: an erasure, a retention run
            connection.sendall(request)
            connection.shutdown(socket.SHUT_WR)
            chunks = []
            while chunk := connection.recv(1 << 16):
                chunks.append(chunk)
        answer = orjson.loads(b"".join(chunks))
        return Answer(int(answer["status"]), str(answer["stdout"]), str(answer["stderr"]))
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise StoreError(
            f"the embedded store {store_url} is in use by another process, which does not answer"
            f" on its admin socket {path} ({error}): if `audience serve` is starting, retry;"
            " else stop that process"
        ) from None
