"""A small HTTP/1.1 client over one keep-alive socket that sends exactly the bytes it is given.

httpx (like any well-behaved client) refuses to send a lying Content-Length, a malformed one, or
a method and headers of our choosing byte for byte; the tests of the collector's edge need to.
"""

from __future__ import annotations

import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

Header = tuple[bytes, bytes]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names, repeated ones joined by a comma
    body: bytes

    def json(self) -> Any:
        return orjson.loads(self.body)

    @property
    def closes(self) -> bool:
        return self.headers.get("connection", "").lower() == "close"


def request_bytes(
    method: bytes,
    target: bytes,
    headers: Iterable[Header] = (),
    body: bytes = b"",
    content_length: bytes | None = None,
    chunked: bool = False,
) -> bytes:
    """A request: ``content_length`` replaces the true length (None: the true length, unless
    ``chunked``, which sends the body in chunks of 1000 bytes)."""
    lines = [method + b" " + target + b" HTTP/1.1", b"host: 127.0.0.1"]
    lines += [name + b": " + value for name, value in headers]
    if chunked:
        lines.append(b"transfer-encoding: chunked")
        pieces = [body[i : i + 1000] for i in range(0, len(body), 1000)]
        payload = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"
    else:
        length = str(len(body)).encode() if content_length is None else content_length
        lines.append(b"content-length: " + length)
        payload = body
    return b"\r\n".join(lines) + b"\r\n\r\n" + payload


class RawClient:
    """One connection at a time to ``port`` on 127.0.0.1, opened again when the server closes it."""

    def __init__(self, port: int, timeout: float = 10.0) -> None:
        self.port = port
        self.timeout = timeout
        self.sock: socket.socket | None = None
        self.buffer = b""
        self.connections = 0

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
        self.sock = None
        self.buffer = b""

    def send(self, raw: bytes, *, last: bool = False) -> Answer:
        """Send ``raw`` and read one answer; ``last``: close the connection afterwards (for a
        request whose body the server may leave unread)."""
        for attempt in (1, 2):
            if self.sock is None:
                self.sock = socket.create_connection(("127.0.0.1", self.port), self.timeout)
                self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                self.connections += 1
            try:
                self.sock.sendall(raw)
                answer = self._read()
            except (ConnectionResetError, BrokenPipeError, EOFError):
                self.close()  # the server closed an idle keep-alive connection: once more
                if attempt == 2:
                    raise
                continue
            if last or answer.closes:
                self.close()
            return answer
        raise AssertionError("unreachable")

    def _read(self) -> Answer:
        while b"\r\n\r\n" not in self.buffer:
            self._fill()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            headers[key] = f"{headers[key]},{value.strip()}" if key in headers else value.strip()
        if "content-length" in headers:
            length = int(headers["content-length"])
            while len(self.buffer) < length:
                self._fill()
            body, self.buffer = self.buffer[:length], self.buffer[length:]
        else:  # no length: the body ends with the connection
            headers["connection"] = "close"
            while True:
                try:
                    self._fill()
                except EOFError:
                    break
            body, self.buffer = self.buffer, b""
        return Answer(int(status_line.split(" ", 2)[1]), headers, body)

    def _fill(self) -> None:
        assert self.sock is not None
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("the server closed the connection")
        self.buffer += chunk
